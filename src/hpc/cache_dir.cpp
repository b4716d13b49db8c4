// Backing directories of per-node caches (cache_internal.hpp): made private,
// locked while in use, removed at the end, and removed by the next ferry
// when their own ferry was killed. docs/design/per-node-cache.md.
#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <fmt/format.h>
#include <string>
#include <vector>

#include "cache_internal.hpp"
#include "ferry/core/error.hpp"
#include "ferry/core/log.hpp"

namespace ferry::hpc {
namespace {

constexpr const char kPrefix[] = "c-";
constexpr const char kData[] = "data";
constexpr const char kScanLock[] = ".lock";

// DIR/ferry-cache-UID, the caller's private directory. DIR is often /tmp.
Fd open_user_dir(const std::string& dir, const std::string& path) {
  try {
    return open_private_dir_or_throw(path, true, "per-node cache directory");
  } catch (const Error& e) {
    if (e.err() == ENOENT) throw Error(fmt::format("per-node cache directory {} does not exist", dir));
    throw;
  }
}

// A cache whose lock can be taken has no ferry serving it any more (the
// lock goes with the process, however it died): remove it.
void remove_stale(int parent, const std::string& where) {
  int dup = ::fcntl(parent, F_DUPFD_CLOEXEC, 0);
  DIR* d = dup < 0 ? nullptr : ::fdopendir(dup);
  if (d == nullptr) {
    if (dup >= 0) ::close(dup);
    throw_errno("list", where);
  }
  std::vector<std::string> stale;
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name.rfind(kPrefix, 0) != 0) continue;
    Fd c(::openat(parent, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (c && ::flock(c.get(), LOCK_EX | LOCK_NB) == 0) stale.push_back(name);
  }
  ::closedir(d);
  for (const auto& name : stale) {
    log::debug(fmt::format("removing stale per-node cache {}/{}", where, name));
    if (!remove_tree_at(parent, name)) log::warn(fmt::format("could not remove stale per-node cache {}/{}", where, name));
  }
}

std::string random_name() {
  unsigned char b[8];
  if (::getrandom(b, sizeof b, 0) != static_cast<ssize_t>(sizeof b)) throw_errno("getrandom");
  std::string s = kPrefix;
  for (unsigned char c : b) s += fmt::format("{:02x}", c);
  return s;
}

// Removes the entries of the open directory `fd` (not the directory).
bool empty_dir(int fd) noexcept {
  int dup = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
  DIR* d = dup < 0 ? nullptr : ::fdopendir(dup);
  if (d == nullptr) {
    if (dup >= 0) ::close(dup);
    return false;
  }
  bool ok = true;
  std::vector<std::string> dirs;
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    if (::unlinkat(fd, name.c_str(), 0) == 0) continue;
    if (errno == EISDIR || errno == EPERM) dirs.push_back(name);  // EPERM: Linux's unlink of a directory
    else if (errno != ENOENT) ok = false;
  }
  ::closedir(d);
  for (const auto& name : dirs) ok = remove_tree_at(fd, name) && ok;
  return ok;
}

}  // namespace

bool remove_tree_at(int parent, const std::string& name) noexcept {
  if (::unlinkat(parent, name.c_str(), AT_REMOVEDIR) == 0 || errno == ENOENT) return true;
  Fd fd(::openat(parent, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) {
    // A directory the container made unreadable: it is still ours to open up.
    Fd path(::openat(parent, name.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    // chmod through the descriptor: the name may be swapped for a symlink.
    if (!path || ::chmod(fd_path(path.get()).c_str(), 0700) != 0) return false;
    fd = Fd(::openat(parent, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) return false;
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) == 0 && (st.st_mode & 0700) != 0700) ::fchmod(fd.get(), 0700);
  bool ok = empty_dir(fd.get());
  return (::unlinkat(parent, name.c_str(), AT_REMOVEDIR) == 0 || errno == ENOENT) && ok;
}

CacheDir CacheDir::make(const std::string& dir) {
  std::string where = fmt::format("{}/ferry-cache-{}", dir, ::getuid());
  CacheDir c;
  c.parent_ = open_user_dir(dir, where);
  // One ferry at a time scans and creates: a cache between its mkdir and
  // its flock is never taken for stale.
  Fd scan(::openat(c.parent_.get(), kScanLock, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!scan) throw_errno("open", where + "/" + kScanLock);
  if (::flock(scan.get(), LOCK_EX) != 0) throw_errno("flock", where + "/" + kScanLock);
  remove_stale(c.parent_.get(), where);
  c.name_ = random_name();
  c.path_ = fmt::format("{}/{}/{}", where, c.name_, kData);
  if (::mkdirat(c.parent_.get(), c.name_.c_str(), 0700) != 0) throw_errno("mkdir", where + "/" + c.name_);
  c.self_ = Fd(::openat(c.parent_.get(), c.name_.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!c.self_ || ::flock(c.self_.get(), LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    remove_tree_at(c.parent_.get(), c.name_);
    throw Error(err, "lock", where + "/" + c.name_);
  }
  if (::mkdirat(c.self_.get(), kData, 0755) != 0) throw_errno("mkdir", c.path_);
  c.data_ = Fd(::openat(c.self_.get(), kData, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!c.data_) throw_errno("open", c.path_);
  return c;
}

CacheDir::~CacheDir() {
  if (!parent_ || name_.empty()) return;  // moved from
  data_.reset();
  if (!remove_tree_at(parent_.get(), name_))
    log::warn(fmt::format("could not remove the per-node cache {} (the next ferry with a cache will)", path_));
}

}  // namespace ferry::hpc
