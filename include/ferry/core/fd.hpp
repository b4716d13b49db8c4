/// Move-only owners of kernel resources (STYLE.md 5): Fd closes its
/// descriptor, TempFile removes its file unless release()d.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

namespace ferry {

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) noexcept : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(o.release()) {}
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) reset(o.release());
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }

  int get() const noexcept { return fd_; }
  explicit operator bool() const noexcept { return fd_ >= 0; }
  int release() noexcept { return std::exchange(fd_, -1); }
  void reset(int fd = -1) noexcept;

 private:
  int fd_ = -1;
};

/// A path whose file is removed when the owner goes, unless release()d:
/// the work file of an import or a download that may fail half way.
class TempFile {
 public:
  TempFile() = default;
  explicit TempFile(std::string path) noexcept : path_(std::move(path)) {}
  TempFile(TempFile&& o) noexcept : path_(std::exchange(o.path_, {})) {}
  TempFile& operator=(TempFile&& o) noexcept {
    if (this != &o) {
      remove();
      path_ = std::exchange(o.path_, {});
    }
    return *this;
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  ~TempFile() { remove(); }

  const std::string& path() const noexcept { return path_; }
  /// The file has been moved away (renamed into place): keep it.
  void release() noexcept { path_.clear(); }

 private:
  void remove() noexcept;
  std::string path_;
};

/// open(2) that throws "open PATH: reason" on failure.
Fd open_or_throw(const std::string& path, int flags, int mode = 0);

/// openat2(2) of PATH (relative; leading slashes are dropped) under DIRFD,
/// with the RESOLVE_* bits RESOLVE, FLAGS | O_CLOEXEC. No descriptor and
/// errno on failure: ENOSYS on kernels before 5.6.
Fd open_resolved(int dirfd, std::string_view path, int flags, uint64_t resolve);

/// "/proc/self/fd/N": the magic link naming exactly the object behind fd,
/// which mount(2) accepts as source or target without re-resolving a path.
std::string fd_path(int fd);

/// Reads a whole (small) file into a string; throws on failure.
std::string read_file(const std::string& path);

/// Reads FD to its end; throws "read WHAT: reason", or when there is more
/// than LIMIT bytes.
std::string read_fd(int fd, const std::string& what, size_t limit = SIZE_MAX);

/// write(2) of all N bytes, across short writes and EINTR; throws
/// "write WHAT: reason".
void write_all(int fd, const void* data, size_t n, const std::string& what);

/// Starts writeback of a file as it is written, so that the fsync before
/// publishing it flushes only the tail: without it, a conversion ended with
/// one serial fsync of the whole image (~0.1 s for 145 MB here) while every
/// core idled. Tell it the end of each write; every kStep bytes past the
/// last start it asks the kernel to begin writing that range back
/// (sync_file_range(SYNC_FILE_RANGE_WRITE): asynchronous, no data is
/// promised durable by it; the fsync still does that).
class Writeback {
 public:
  static constexpr uint64_t kStep = 8 << 20;
  explicit Writeback(int fd) : fd_(fd) {}
  void wrote_to(uint64_t end) noexcept;

 private:
  int fd_;
  uint64_t started_ = 0;
};

/// A directory of the caller's own, checked on its descriptor: what
/// open_private_dir found.
struct PrivateDir {
  Fd fd;                         ///< O_RDONLY | O_DIRECTORY, when it is private
  const char* wrong = nullptr;   ///< else what is wrong with it ("is not a directory", ...),
  int err = 0;                   ///< or the system error
  const char* op = nullptr;      ///< of this call (mkdir, open, stat)
};

/// Opens DIR, made mode 0700 first when missing and CREATE, without
/// following a symlink, and checks on the descriptor that it is a private
/// directory of the caller's: owned by the caller, no access for group or
/// others. A symlink counts as "is not a directory". DIR is often under
/// /tmp, where someone else may have made the name first.
PrivateDir open_private_dir(const std::string& dir, bool create);

/// open_private_dir, throwing "WHAT DIR is not a directory; refusing to use
/// it[ PURPOSE]" (what is wrong, in its words) or the system error.
Fd open_private_dir_or_throw(const std::string& dir, bool create, const std::string& what,
                             const std::string& purpose = {});

/// Writes `data` to an existing file (e.g. /proc/self/uid_map); throws.
void write_file(const std::string& path, std::string_view data);

}  // namespace ferry
