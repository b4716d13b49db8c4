#include "ferry/image/export.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <fmt/format.h>

#include "ferry/core/error.hpp"
#include "ferry/core/fd.hpp"
#include "ferry/core/file_lock.hpp"

namespace ferry::image {
namespace {

constexpr size_t kChunk = 1 << 20;

// DEST.tmp.PID, renamed over DEST on commit(), removed otherwise.
class Staged {
 public:
  explicit Staged(std::string dest) : dest_(std::move(dest)), tmp_(dest_ + ".tmp." + std::to_string(::getpid())) {}
  ~Staged() {
    if (!done_) ::unlink(tmp_.c_str());
  }
  Staged(const Staged&) = delete;
  Staged& operator=(const Staged&) = delete;
  const std::string& path() const { return tmp_; }
  void commit() {
    Fd f = open_or_throw(tmp_, O_RDONLY);
    if (::fsync(f.get()) != 0) throw_errno("fsync", tmp_);
    if (::rename(tmp_.c_str(), dest_.c_str()) != 0) throw_errno("rename", tmp_ + " to " + dest_);
    done_ = true;
    sync_parent_dir(dest_);
  }

 private:
  std::string dest_, tmp_;
  bool done_ = false;
};

void copy_file(const std::string& from, const std::string& to) {
  Fd in = open_or_throw(from, O_RDONLY);
  Fd out = open_or_throw(to, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  for (;;) {
    ssize_t n = ::copy_file_range(in.get(), nullptr, out.get(), nullptr, kChunk * 64, 0);
    if (n < 0) throw_errno("copy", from + " to " + to);
    if (n == 0) return;
  }
}

}  // namespace

void export_image(const StoredImage& image, const std::string& dest, ExportFormat format) {
  // A tarball needs libarchive's writer, whose static archive drags in every
  // format it knows (7zip needs bzip2, xar needs libxml2); the shared one
  // would load libxml2 and ICU at every container start. Not solved yet.
  if (format == ExportFormat::Tar) throw Error("--format tar is not supported yet (squashfs is)");
  if (dest == "-") throw Error("export to standard output is for --format tar");
  Staged out(dest);
  copy_file(image.sqfs, out.path());
  out.commit();
}

}  // namespace ferry::image
