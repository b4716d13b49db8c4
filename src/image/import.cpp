#include "ferry/image/import.hpp"

#include <sys/utsname.h>
#include <unistd.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "ferry/core/error.hpp"
#include "ferry/core/log.hpp"
#include "ferry/core/sha256.hpp"

namespace ferry::image {
namespace {

// OCI's names for this machine's architecture (image-spec config.md).
std::string oci_architecture() {
  struct utsname u {};
  ::uname(&u);
  std::string m = u.machine;
  if (m == "x86_64") return "amd64";
  if (m == "aarch64") return "arm64";
  if (m == "ppc64le") return "ppc64le";
  if (m == "s390x") return "s390x";
  return m;
}

// The config of an image made from one root file-system tarball. It holds no
// creation time, so the same tarball is the same image (same id) every time.
std::string rootfs_config(const std::string& diff_id) {
  nlohmann::json c = {
      {"architecture", oci_architecture()},
      {"os", "linux"},
      {"config", {{"Env", {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}}}},
      {"rootfs", {{"type", "layers"}, {"diff_ids", {diff_id}}}},
  };
  return c.dump();
}

// Removes the temporary file unless the import got as far as the store.
class TempFile {
 public:
  explicit TempFile(std::string path) : path_(std::move(path)) {}
  ~TempFile() {
    if (!path_.empty()) ::unlink(path_.c_str());
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  const std::string& path() const { return path_; }
  void release() { path_.clear(); }

 private:
  std::string path_;
};

ImportResult import_tar(const std::string& path, const std::vector<Reference>& names, Store& store,
                        const ConvertOptions& options) {
  if (::access(path.c_str(), R_OK) != 0) throw_errno("open", path);
  TempFile out(store.temp_path());
  Sha256 diff_id;
  LayerSource layer;
  layer.label = path;
  layer.path = path;
  layer.on_uncompressed = [&diff_id](const void* data, size_t size) { diff_id.update(data, size); };
  ImportResult r;
  r.stats = convert_layers({layer}, out.path(), options);
  r.image = store.add(out.path(), rootfs_config(diff_id.digest()), names);
  out.release();  // moved into the store (or dropped there as a duplicate)
  return r;
}

}  // namespace

ImportResult import_image(const std::string& source, const std::vector<Reference>& names, Store& store,
                          const ConvertOptions& options) {
  auto colon = source.find(':');
  std::string kind = colon == std::string::npos ? "" : source.substr(0, colon);
  std::string where = colon == std::string::npos ? source : source.substr(colon + 1);
  if (kind == "tar") {
    if (names.empty()) throw Error("a tar: source needs a NAME[:TAG] to store the image under");
    ImportResult r = import_tar(where, names, store, options);
    if (r.stats.dropped_devices > 0)
      log::warn(fmt::format("{}: {} device node(s) left out (they cannot be used rootless)", source,
                            r.stats.dropped_devices));
    return r;
  }
  if (kind == "docker-archive" || kind == "oci-archive" || kind == "oci" || kind == "dir")
    throw Error(fmt::format("{}: sources are not supported yet (supported: tar:PATH)", kind));
  throw Error(fmt::format("unknown source '{}' (expected tar:PATH)", source));
}

}  // namespace ferry::image
