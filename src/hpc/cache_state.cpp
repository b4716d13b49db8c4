// The per-node cache's backing operations and its block accounting
// (cache_state.hpp). Accounting counts st_blocks, what the disk really
// allocated: a write reserves the blocks it could need before it is made
// and the difference is settled from fstat(2) after it.
#include "cache_state.hpp"

#include <fcntl.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string>

#include "ferry/core/error.hpp"

namespace ferry::hpc {
namespace {

int64_t round_up(int64_t n) { return (n + kBlock - 1) / kBlock * kBlock; }
int64_t allocated(const struct stat& s) { return static_cast<int64_t>(s.st_blocks) * 512; }

// Blocks a write of LEN bytes at OFF may allocate: none when it lands
// inside the file's allocated, hole-free part; else every block it touches.
int64_t write_need(const struct stat& s, off_t off, size_t len) {
  bool inside = off + static_cast<off_t>(len) <= s.st_size && allocated(s) >= round_up(s.st_size);
  return inside ? 0 : round_up(off % kBlock + static_cast<int64_t>(len));
}

}  // namespace

State::State(int root, uint64_t size) : limit_(static_cast<int64_t>(std::min<uint64_t>(size, INT64_MAX))) {
  root_.fd = Fd(::fcntl(root, F_DUPFD_CLOEXEC, 0));
  if (!root_.fd) throw_errno("dup", "per-node cache directory");
  root_.type = S_IFDIR;
  // Our own descriptor table, for reopening O_PATH descriptors. Taken on
  // the host: the container's /proc is not ours to trust.
  proc_ = Fd(::open("/proc/self/fd", O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!proc_) throw_errno("open", "/proc/self/fd");
}

State::~State() {
  if (session != nullptr) fuse_session_destroy(session);
}

bool State::reserve(int64_t bytes) {
  int64_t cur = used_.load();
  do {
    if (cur + bytes > limit_) return false;
  } while (!used_.compare_exchange_weak(cur, cur + bytes));
  return true;
}

void State::unreserve(int64_t bytes) {
  int64_t cur = used_.load();
  while (!used_.compare_exchange_weak(cur, std::max<int64_t>(0, cur - bytes))) {
  }
}

// What a removed object was charged: a directory its one block (make()),
// anything else its blocks, every one of which was charged when allocated.
int64_t State::charged(const struct stat& st) { return S_ISDIR(st.st_mode) ? kBlock : allocated(st); }

int64_t State::available() const { return std::max<int64_t>(0, limit_ - used_.load()); }

int State::install(Fd path, const struct stat& st, fuse_entry_param* e) {
  e->attr = st;
  e->attr_timeout = e->entry_timeout = kTimeout;
  std::lock_guard lk(mu_);
  auto& slot = nodes_[{st.st_dev, st.st_ino}];
  if (!slot) {
    slot = std::make_unique<Node>();
    slot->fd = std::move(path);
    slot->dev = st.st_dev;
    slot->ino = st.st_ino;
    slot->type = st.st_mode & S_IFMT;
  }
  ++slot->nlookup;
  e->ino = reinterpret_cast<fuse_ino_t>(slot.get());
  return 0;
}

int State::lookup(int parent, const char* name, fuse_entry_param* e) {
  Fd fd(::openat(parent, name, O_PATH | O_NOFOLLOW | O_CLOEXEC));
  struct stat st {};
  if (!fd || ::fstatat(fd.get(), "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) != 0) return errno;
  return install(std::move(fd), st, e);
}

void State::forget(fuse_ino_t ino, uint64_t n) {
  if (ino == FUSE_ROOT_ID) return;
  Node* node = reinterpret_cast<Node*>(ino);
  std::lock_guard lk(mu_);
  node->nlookup -= std::min(n, node->nlookup);
  if (node->nlookup == 0) nodes_.erase({node->dev, node->ino});
}

int State::reopen(Node& n, int flags) {
  bool ok = (S_ISREG(n.type) && (flags & O_DIRECTORY) == 0) || (S_ISDIR(n.type) && (flags & O_DIRECTORY) != 0);
  if (!ok) return -EACCES;
  // O_TRUNC and O_APPEND are the kernel's business: it truncates through
  // SETATTR (counted there) and sends each write's offset.
  flags &= ~(O_NOFOLLOW | O_CREAT | O_EXCL | O_TRUNC | O_APPEND | O_NOCTTY);
  int fd = ::openat(proc_.get(), std::to_string(n.fd.get()).c_str(), flags | O_CLOEXEC);
  return fd < 0 ? -errno : fd;
}

int State::open_node(Node& n, int flags) {
  int fd = reopen(n, flags);
  if (fd < 0) return fd;
  std::lock_guard lk(mu_);
  ++n.opened;
  return fd;
}

int State::create(int parent, const char* name, mode_t mode, int flags, fuse_entry_param* e) {
  flags &= ~(O_TRUNC | O_APPEND | O_NOCTTY);
  Fd fd(::openat(parent, name, flags | O_CREAT | O_NOFOLLOW | O_CLOEXEC, mode));
  if (!fd) return -errno;
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return -errno;
  if (!S_ISREG(st.st_mode)) return -EACCES;
  Fd path(::openat(proc_.get(), std::to_string(fd.get()).c_str(), O_PATH | O_CLOEXEC));
  if (!path) return -errno;
  install(std::move(path), st, e);
  std::lock_guard lk(mu_);
  ++reinterpret_cast<Node*>(e->ino)->opened;
  return fd.release();
}

void State::release(Node& n, int fd) {
  ::close(fd);
  std::lock_guard lk(mu_);
  if (--n.opened > 0 || !n.orphan) return;
  n.orphan = false;
  struct stat st {};
  if (::fstatat(n.fd.get(), "", &st, AT_EMPTY_PATH) == 0 && st.st_nlink == 0) unreserve(charged(st));
}

// A file's last name is gone: its blocks are free now, or at the last
// release if the container still has it open (as the disk frees them).
void State::free_blocks(const struct stat& st) {
  std::lock_guard lk(mu_);
  auto it = nodes_.find({st.st_dev, st.st_ino});
  if (it != nodes_.end() && it->second->opened > 0) it->second->orphan = true;
  else unreserve(charged(st));
}

ssize_t State::write(Node& n, int fd, fuse_bufvec* in, off_t off) {
  size_t len = fuse_buf_size(in);
  std::lock_guard lk(n.mu);
  struct stat before {};
  if (::fstat(fd, &before) != 0) return -errno;
  int64_t need = write_need(before, off, len);
  if (need > 0 && !reserve(need)) {
    // What fits: a short write, as a full disk gives; nothing fits: ENOSPC.
    int64_t fit = available() / kBlock * kBlock - off % kBlock;
    if (fit <= 0) return -ENOSPC;
    len = std::min<size_t>(len, static_cast<size_t>(fit));
    need = round_up(off % kBlock + static_cast<int64_t>(len));
    if (!reserve(need)) return -ENOSPC;
  }
  fuse_bufvec out = fd_buf(len);
  out.buf[0].flags = static_cast<fuse_buf_flags>(FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK);
  out.buf[0].fd = fd;
  out.buf[0].pos = off;
  ssize_t r = fuse_buf_copy(&out, in, fuse_buf_copy_flags{});
  struct stat after {};
  int64_t grown = ::fstat(fd, &after) == 0 ? allocated(after) - allocated(before) : need;
  unreserve(need - grown);
  return r;
}

int State::fallocate(Node& n, int fd, int mode, off_t off, off_t len) {
  std::lock_guard lk(n.mu);
  struct stat before {};
  if (::fstat(fd, &before) != 0) return errno;
  bool frees = (mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_COLLAPSE_RANGE)) != 0;
  int64_t need = frees ? 0 : round_up(off % kBlock + len);
  if (need > 0 && !reserve(need)) return ENOSPC;
  int err = ::fallocate(fd, mode, off, len) == 0 ? 0 : errno;
  struct stat after {};
  int64_t grown = ::fstat(fd, &after) == 0 ? allocated(after) - allocated(before) : need;
  unreserve(need - grown);
  return err;
}

int State::setattr(Node& n, const struct stat& attr, int to_set, int fd) {
  std::string self = std::to_string(n.fd.get());  // reopened through /proc/self/fd
  bool link = S_ISLNK(n.type);
  if (to_set & FUSE_SET_ATTR_MODE) {
    if (link) return EOPNOTSUPP;
    int r = fd >= 0 ? ::fchmod(fd, attr.st_mode) : ::fchmodat(proc_.get(), self.c_str(), attr.st_mode, 0);
    if (r != 0) return errno;
  }
  if (to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
    uid_t uid = (to_set & FUSE_SET_ATTR_UID) ? attr.st_uid : static_cast<uid_t>(-1);
    gid_t gid = (to_set & FUSE_SET_ATTR_GID) ? attr.st_gid : static_cast<gid_t>(-1);
    if (::fchownat(n.fd.get(), "", uid, gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) != 0) return errno;
  }
  if (to_set & FUSE_SET_ATTR_SIZE) {
    Fd own;
    if (fd < 0) {
      int r = reopen(n, O_WRONLY);
      if (r < 0) return -r;
      own = Fd(r);
      fd = r;
    }
    std::lock_guard lk(n.mu);
    struct stat before {}, after {};
    if (::fstat(fd, &before) != 0 || ::ftruncate(fd, attr.st_size) != 0 || ::fstat(fd, &after) != 0) return errno;
    unreserve(allocated(before) - allocated(after));
  }
  if (to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME)) {
    if (link) return EOPNOTSUPP;
    struct timespec tv[2];
    tv[0] = (to_set & FUSE_SET_ATTR_ATIME_NOW) ? timespec{0, UTIME_NOW}
            : (to_set & FUSE_SET_ATTR_ATIME)   ? attr.st_atim
                                               : timespec{0, UTIME_OMIT};
    tv[1] = (to_set & FUSE_SET_ATTR_MTIME_NOW) ? timespec{0, UTIME_NOW}
            : (to_set & FUSE_SET_ATTR_MTIME)   ? attr.st_mtim
                                               : timespec{0, UTIME_OMIT};
    int r = fd >= 0 ? ::futimens(fd, tv) : ::utimensat(proc_.get(), self.c_str(), tv, 0);
    if (r != 0) return errno;
  }
  return 0;
}

int State::remove(int parent, const char* name, bool dir) {
  Fd victim(::openat(parent, name, O_PATH | O_NOFOLLOW | O_CLOEXEC));
  if (!victim) return errno;
  if (::unlinkat(parent, name, dir ? AT_REMOVEDIR : 0) != 0) return errno;
  struct stat st {};
  if (::fstatat(victim.get(), "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) == 0 && st.st_nlink == 0)
    free_blocks(st);
  return 0;
}

int State::rename(int parent, const char* name, int newparent, const char* newname, unsigned flags) {
  // A name that a rename replaces loses a link like an unlink.
  Fd victim;
  if ((flags & RENAME_EXCHANGE) == 0) victim = Fd(::openat(newparent, newname, O_PATH | O_NOFOLLOW | O_CLOEXEC));
  if (::renameat2(parent, name, newparent, newname, flags) != 0) return errno;
  struct stat st {};
  if (victim && ::fstatat(victim.get(), "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) == 0 && st.st_nlink == 0)
    free_blocks(st);
  return 0;
}

// The cache's own size and what is left of it, never more than the disk
// really has free; inode counts are the disk's.
int State::statfs(struct statvfs* sv) {
  struct statvfs disk {};
  if (::fstatvfs(root_.fd.get(), &disk) != 0) return errno;
  *sv = disk;
  auto disk_free = static_cast<int64_t>(disk.f_bavail * disk.f_frsize / kBlock);
  sv->f_bsize = sv->f_frsize = kBlock;
  sv->f_blocks = static_cast<fsblkcnt_t>(limit_ / kBlock);
  sv->f_bfree = sv->f_bavail = static_cast<fsblkcnt_t>(std::min(available() / kBlock, disk_free));
  return 0;
}

}  // namespace ferry::hpc
