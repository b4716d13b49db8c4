// `ferry import`: every source goes the same way (docs/design/convert.md):
//   find the image (source_*.cpp: config, manifest and index checked)
//   -> convert_layers() into a temporary file of the store, each layer's
//      blob digest and diff_id computed by the LayerSource hooks as it streams
//   -> compare them with what the manifest and config say
//   -> Store::add() publishes the SquashFS file and the config, byte for byte.
// Any error on the way leaves the store as it was: the temporary file is
// removed by TempFile, and nothing else was written.
#include "ferry/image/import.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <exception>
#include <functional>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <memory>
#include <thread>

#include "ferry/core/error.hpp"
#include "ferry/core/fd.hpp"
#include "ferry/core/log.hpp"
#include "ferry/core/sha256.hpp"
#include "ferry/image/source.hpp"

namespace ferry::image {
namespace {

// The config of an image made from one root file system (tar: or dir:). It
// holds no creation time, so the same tree is the same image (same id).
std::string rootfs_config(const std::string& diff_id) {
  nlohmann::json c = {
      {"architecture", host_platform().architecture},
      {"os", "linux"},
      {"config", {{"Env", {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}}}},
      {"rootfs", {{"type", "layers"}, {"diff_ids", {diff_id}}}},
  };
  return c.dump();
}

// The OCI media type of a kept layer blob, by its compression.
std::string layer_media_type(const BlobWriter& b) {
  switch (detect_compression(b.head().data(), b.head().size())) {
    case Compression::kGzip: return "application/vnd.oci.image.layer.v1.tar+gzip";
    case Compression::kZstd: return "application/vnd.oci.image.layer.v1.tar+zstd";
    case Compression::kNone: break;
  }
  return "application/vnd.oci.image.layer.v1.tar";
}

// An OCI manifest for CONFIG and the kept layer blobs (oldest first).
std::string make_manifest(std::string_view config, std::vector<std::unique_ptr<BlobWriter>>& layers) {
  nlohmann::json m = {{"schemaVersion", 2},
                      {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                      {"config",
                       {{"mediaType", "application/vnd.oci.image.config.v1+json"},
                        {"digest", sha256_digest(config)},
                        {"size", config.size()}}},
                      {"layers", nlohmann::json::array()}};
  for (auto& l : layers)
    m["layers"].push_back({{"mediaType", layer_media_type(*l)}, {"digest", l->digest()}, {"size", l->size()}});
  return m.dump();
}

// What streamed past one layer's hooks.
struct Seen {
  Sha256 diff;
  std::unique_ptr<BlobWriter> blob;
};

// Compares what the layers' hooks saw with what the manifest and config say.
void verify(const std::vector<SourceLayer>& layers, std::vector<Seen>& seen) {
  for (size_t i = 0; i < layers.size(); ++i) {
    const SourceLayer& l = layers[i];
    std::string blob = seen[i].blob->digest(), diff = seen[i].diff.digest();
    if (l.digest && blob != *l.digest) throw Error(fmt::format("{}: digest mismatch (got {})", l.label, blob));
    if (l.size && seen[i].blob->size() != *l.size)
      throw Error(fmt::format("{}: size mismatch (manifest says {}, blob has {})", l.label, *l.size,
                              seen[i].blob->size()));
    if (diff != l.diff_id)
      throw Error(fmt::format("{}: diff_id mismatch (config says {}, got {})", l.label, l.diff_id, diff));
  }
}

// After a failed conversion: re-reads the blobs whose digest is known and
// throws the first mismatch, the real cause of a damaged stream.
void check_digests(const std::vector<SourceLayer>& layers) {
  std::vector<char> buf(1 << 20);
  for (const auto& l : layers) {
    if (!l.digest) continue;
    Fd fd(::open(l.blob.path.c_str(), O_RDONLY | O_CLOEXEC));
    Sha256 h;
    for (uint64_t pos = 0; fd && pos < l.blob.length;) {
      ssize_t n = ::pread(fd.get(), buf.data(), std::min<uint64_t>(buf.size(), l.blob.length - pos),
                          static_cast<off_t>(l.blob.offset + pos));
      if (n <= 0) return;  // unreadable: the conversion's error stands
      h.update(buf.data(), static_cast<size_t>(n));
      pos += static_cast<uint64_t>(n);
    }
    if (std::string got = h.digest(); got != *l.digest)
      throw Error(fmt::format("{}: digest mismatch (got {})", l.label, got));
  }
}

std::vector<Reference> names_for(const std::vector<Reference>& given, const SourceImage& img,
                                 const std::string& kind) {
  if (!given.empty()) return given;
  if (img.names.empty())
    throw Error(fmt::format("{} {}: source names no image; give a NAME[:TAG] to store it under",
                            kind == "oci" || kind == "oci-archive" ? "an" : "a", kind));
  std::vector<Reference> out;
  for (const auto& n : img.names) out.push_back(parse_reference(n));
  return out;
}

ImportResult import_layers(const SourceImage& img, const std::vector<Reference>& names, Store& store,
                           const ConvertOptions& options) {
  FileLock claim = store.claim_blobs();  // until add() lists the blobs
  std::vector<Seen> seen(img.layers.size());
  for (auto& s : seen) s.blob = std::make_unique<BlobWriter>(store);
  std::vector<LayerSource> newest_first;
  for (size_t i = img.layers.size(); i-- > 0;) {
    const SourceLayer& l = img.layers[i];
    LayerSource s;
    s.label = l.label;
    s.path = l.blob.path;
    s.offset = l.blob.offset;
    s.length = l.blob.length;
    Seen* mine = &seen[i];
    s.on_compressed = [mine](const void* d, size_t n) { mine->blob->write(d, n); };
    s.on_uncompressed = [mine](const void* d, size_t n) { mine->diff.update(d, n); };
    newest_first.push_back(std::move(s));
  }
  TempFile out(store.temp_path());
  ImportResult r;
  try {
    r.stats = convert_layers(newest_first, out.path(), options);
  } catch (const Error&) {
    check_digests(img.layers);  // a corrupt blob breaks the tar first: name the cause
    throw;
  }
  verify(img.layers, seen);
  std::vector<std::unique_ptr<BlobWriter>> kept;
  for (auto& s : seen) {
    s.blob->keep();
    kept.push_back(std::move(s.blob));
  }
  std::string manifest = img.manifest.empty() ? make_manifest(img.config, kept) : img.manifest;
  r.image = store.add(out.path(), img.config, names, manifest);
  out.release();  // moved into the store (or dropped there as a duplicate)
  return r;
}

// One root file system given as a single layer: a tarball, or a directory
// streamed as one through a socket pair by a writer thread.
// `done` runs after the conversion, before the store is touched.
ImportResult import_rootfs(const LayerSource& base, const std::vector<Reference>& names, Store& store,
                           const ConvertOptions& options, const std::function<void()>& done = {}) {
  FileLock claim = store.claim_blobs();  // until add() lists the blob
  Sha256 diff_id;
  std::vector<std::unique_ptr<BlobWriter>> kept;
  BlobWriter* blob = kept.emplace_back(std::make_unique<BlobWriter>(store)).get();
  LayerSource layer = base;
  layer.on_uncompressed = [&diff_id](const void* data, size_t size) { diff_id.update(data, size); };
  layer.on_compressed = [blob](const void* data, size_t size) { blob->write(data, size); };
  TempFile out(store.temp_path());
  ImportResult r;
  r.stats = convert_layers({layer}, out.path(), options);
  if (done) done();
  std::string config = rootfs_config(diff_id.digest());
  blob->keep();
  r.image = store.add(out.path(), config, names, make_manifest(config, kept));
  out.release();
  return r;
}

ImportResult import_dir(const std::string& dir, const std::vector<Reference>& names, Store& store,
                        const ConvertOptions& options) {
  open_directory(dir);  // a clear error before any thread starts
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) throw_errno("socketpair");
  Fd reader(sv[0]);
  std::exception_ptr writer_error;
  std::thread writer([&, fd = sv[1]] {
    try {
      write_dir_tar(dir, fd);
    } catch (...) {
      writer_error = std::current_exception();
    }
  });
  LayerSource layer;
  layer.label = dir;
  layer.fd = reader.get();
  // The writer may have failed after ending the tar cleanly: check before storing.
  auto join = [&] {
    writer.join();
    if (writer_error) std::rethrow_exception(writer_error);
  };
  try {
    return import_rootfs(layer, names, store, options, join);
  } catch (...) {
    reader.reset();  // a writer still blocked in send() gets EPIPE and stops
    if (writer.joinable()) writer.join();
    if (writer_error) std::rethrow_exception(writer_error);  // the cause, e.g. an unreadable file
    throw;
  }
}

// "PATH:TAG" -> {PATH, TAG} when PATH alone is not there and TAG has no '/'.
std::pair<std::string, std::string> split_tag(const std::string& where) {
  struct stat st {};
  auto colon = where.rfind(':');
  if (colon == std::string::npos || ::stat(where.c_str(), &st) == 0 ||
      where.find('/', colon) != std::string::npos)
    return {where, ""};
  return {where.substr(0, colon), where.substr(colon + 1)};
}

std::vector<std::string> wanted(const std::vector<Reference>& names) {
  std::vector<std::string> out;
  for (const auto& n : names) out.push_back(n.str());
  return out;
}

ImportResult import_source(const std::string& kind, const std::string& where, const std::vector<Reference>& names,
                           Store& store, const ConvertOptions& options) {
  if (kind == "docker-archive") {
    auto files = open_tar(where);
    SourceImage img = read_docker_archive(*files, wanted(names));
    return import_layers(img, names_for(names, img, kind), store, options);
  }
  auto [path, tag] = split_tag(where);
  auto files = kind == "oci" ? open_directory(path) : open_tar(path);
  SourceImage img = read_oci_layout(*files, tag, host_platform());
  return import_layers(img, names_for(names, img, kind), store, options);
}

}  // namespace

ImportResult import_image(const std::string& source, const std::vector<Reference>& names, Store& store,
                          const ConvertOptions& options) {
  auto colon = source.find(':');
  std::string kind = colon == std::string::npos ? "" : source.substr(0, colon);
  std::string where = colon == std::string::npos ? source : source.substr(colon + 1);
  ImportResult r;
  if (kind == "tar" || kind == "dir") {
    if (names.empty()) throw Error(fmt::format("a {}: source needs a NAME[:TAG] to store the image under", kind));
    if (kind == "tar" && ::access(where.c_str(), R_OK) != 0) throw_errno("open", where);
    LayerSource layer;
    layer.label = where;
    layer.path = where;
    r = kind == "tar" ? import_rootfs(layer, names, store, options) : import_dir(where, names, store, options);
  } else if (kind == "docker-archive" || kind == "oci-archive" || kind == "oci") {
    r = import_source(kind, where, names, store, options);
  } else {
    throw Error(fmt::format("unknown source '{}' (expected tar:, dir:, docker-archive:, oci-archive: or oci:)",
                            source));
  }
  if (r.stats.dropped_devices > 0)
    log::warn(fmt::format("{}: {} device node(s) left out (they cannot be used rootless)", source,
                          r.stats.dropped_devices));
  return r;
}

}  // namespace ferry::image
