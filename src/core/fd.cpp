#include "ferry/core/fd.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <fmt/format.h>

#include "ferry/core/error.hpp"

namespace ferry {

void Fd::reset(int fd) noexcept {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

void TempFile::remove() noexcept {
  if (!path_.empty()) ::unlink(path_.c_str());
}

void write_all(int fd, const void* data, size_t n, const std::string& what) {
  auto* p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) throw_errno("write", what);
    p += w;
    n -= static_cast<size_t>(w);
  }
}

PrivateDir open_private_dir(const std::string& dir, bool create) {
  PrivateDir r;
  if (create && ::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    r.err = errno, r.op = "mkdir";
    return r;
  }
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  struct stat st {};
  // Not readable: look at it without reading, to say whose it is.
  if (!fd && errno == EACCES) {
    Fd path(::open(dir.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (path && ::fstat(path.get(), &st) == 0 && st.st_uid != ::getuid()) {
      r.wrong = "belongs to another user";
      return r;
    }
    errno = EACCES;
  }
  if (!fd) {
    if (errno == ELOOP || errno == ENOTDIR) r.wrong = "is not a directory";
    else r.err = errno, r.op = "open";
  } else if (::fstat(fd.get(), &st) != 0) {
    r.err = errno, r.op = "stat";
  } else if (st.st_uid != ::getuid()) {
    r.wrong = "belongs to another user";
  } else if ((st.st_mode & 077) != 0) {
    r.wrong = "is open to other users (want mode 0700)";
  } else {
    r.fd = std::move(fd);
  }
  return r;
}

Fd open_private_dir_or_throw(const std::string& dir, bool create, const std::string& what,
                             const std::string& purpose) {
  PrivateDir d = open_private_dir(dir, create);
  if (d.fd) return std::move(d.fd);
  if (d.wrong != nullptr)
    throw Error(fmt::format("{} {} {}; refusing to use it{}{}", what, dir, d.wrong, purpose.empty() ? "" : " ", purpose));
  throw Error(d.err, d.op, dir);
}

Fd open_or_throw(const std::string& path, int flags, int mode) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
  if (fd < 0) throw_errno("open", path);
  return Fd(fd);
}

Fd open_resolved(int dirfd, std::string_view path, int flags, uint64_t resolve) {
  while (path.starts_with('/')) path.remove_prefix(1);
  std::string rel(path.empty() ? "." : path);
  struct open_how how {};
  how.flags = static_cast<uint64_t>(flags | O_CLOEXEC);
  how.resolve = resolve;
  return Fd(static_cast<int>(::syscall(SYS_openat2, dirfd, rel.c_str(), &how, sizeof how)));
}

std::string fd_path(int fd) { return "/proc/self/fd/" + std::to_string(fd); }

std::string read_file(const std::string& path) {
  Fd fd = open_or_throw(path, O_RDONLY);
  return read_fd(fd.get(), path);
}

std::string read_fd(int fd, const std::string& what, size_t limit) {
  std::string out;
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw_errno("read", what);
    if (n == 0) break;
    if (static_cast<size_t>(n) > limit - out.size())
      throw Error(what + ": larger than " + std::to_string(limit) + " bytes");
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

void write_file(const std::string& path, std::string_view data) {
  Fd fd = open_or_throw(path, O_WRONLY);
  ssize_t n = ::write(fd.get(), data.data(), data.size());
  if (n < 0) throw_errno("write", path);
  if (static_cast<size_t>(n) != data.size()) throw Error("short write to " + path);
}

void Writeback::wrote_to(uint64_t end) noexcept {
  if (end < started_ + kStep) return;
  // Errors are the fsync's to report; this is only a head start.
  (void)::sync_file_range(fd_, static_cast<off_t>(started_), static_cast<off_t>(end - started_),
                          SYNC_FILE_RANGE_WRITE);
  started_ = end;
}

}  // namespace ferry
