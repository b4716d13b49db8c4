/// What the per-node cache's FUSE workers share (cache_fs.cpp): the nodes
/// the kernel knows, each an O_PATH descriptor of a backing object, and the
/// count of allocated bytes against the cache's size. Every call here that
/// names a file does it relative to a descriptor, with O_NOFOLLOW or
/// AT_SYMLINK_NOFOLLOW; a node is reopened only through its own descriptor
/// (/proc/self/fd/N), and only when it is a regular file or a directory.
#pragma once

#define FUSE_USE_VERSION 35

#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <utility>

#include "ferry/core/fd.hpp"

namespace ferry::hpc {

constexpr int64_t kBlock = 4096;           ///< the unit of reservations and of statfs
constexpr unsigned kMaxWrite = 1u << 20;   ///< bytes per WRITE request (FUSE max_pages 256)
constexpr double kTimeout = 3600.0;        ///< only this mount changes the tree: cache long

/// One buffer of SIZE bytes (FUSE_BUFVEC_INIT is a C compound literal).
inline fuse_bufvec fd_buf(size_t size) {
  fuse_bufvec v{};
  v.count = 1;
  v.buf[0].size = size;
  return v;
}

/// A backing object the kernel holds a reference to (FUSE "node id").
struct Node {
  Fd fd;  ///< O_PATH | O_NOFOLLOW
  dev_t dev = 0;
  ino_t ino = 0;
  mode_t type = 0;        ///< S_IFMT bits
  uint64_t nlookup = 0;   ///< State::mu
  int opened = 0;         ///< open handles; State::mu
  bool orphan = false;    ///< unlinked while open: freed at the last release; State::mu
  std::mutex mu;          ///< serializes the size-changing calls on this file
};

class State {
 public:
  /// root: the backing directory (duplicated); size: the limit in bytes.
  State(int root, uint64_t size);
  ~State();
  State(const State&) = delete;
  State& operator=(const State&) = delete;

  fuse_session* session = nullptr;  ///< destroyed (closing /dev/fuse) with the state

  Node& node(fuse_ino_t ino) { return ino == FUSE_ROOT_ID ? root_ : *reinterpret_cast<Node*>(ino); }
  int proc_fd() const { return proc_.get(); }

  /// Fills E for NAME in directory PARENT and counts one kernel reference.
  int lookup(int parent, const char* name, fuse_entry_param* e);
  void forget(fuse_ino_t ino, uint64_t n);

  /// Opens node N again for I/O (regular files and directories only).
  /// Returns the descriptor or -errno.
  int reopen(Node& n, int flags);
  int open_node(Node& n, int flags);
  int create(int parent, const char* name, mode_t mode, int flags, fuse_entry_param* e);
  void release(Node& n, int fd);

  ssize_t write(Node& n, int fd, fuse_bufvec* in, off_t off);
  int fallocate(Node& n, int fd, int mode, off_t off, off_t len);
  int setattr(Node& n, const struct stat& attr, int to_set, int fd);
  int remove(int parent, const char* name, bool dir);
  int rename(int parent, const char* name, int newparent, const char* newname, unsigned flags);
  int statfs(struct statvfs* sv);

  /// Makes NAME in directory DIR with MAKE (mkdirat, symlinkat, mknodat:
  /// 0 or -1 with errno) and charges it: a directory one block, exactly what
  /// its removal gives back (its later growth is not counted); anything else
  /// what fstatat(2) then reports, settled from a one-block reservation.
  /// Returns 0 or errno.
  template <typename Make>
  int make(int dir, const char* name, bool is_dir, Make&& make_it) {
    if (!reserve(kBlock)) return ENOSPC;
    if (make_it() != 0) {
      int err = errno;
      unreserve(kBlock);
      return err;
    }
    struct stat s {};
    if (!is_dir) unreserve(kBlock - (::fstatat(dir, name, &s, AT_SYMLINK_NOFOLLOW) == 0 ? s.st_blocks * 512 : 0));
    return 0;
  }

  /// Takes BYTES from the free space; false (nothing taken) if they do not fit.
  bool reserve(int64_t bytes);
  /// Gives BYTES back (negative: takes them, even past the limit); the count
  /// never goes below 0.
  void unreserve(int64_t bytes);

 private:
  int install(Fd path, const struct stat& st, fuse_entry_param* e);
  void free_blocks(const struct stat& st);
  static int64_t charged(const struct stat& st);
  int64_t available() const;

  Node root_;
  Fd proc_;  ///< /proc/self/fd, opened on the host before the namespaces
  const int64_t limit_;
  std::atomic<int64_t> used_{0};
  std::mutex mu_;
  std::map<std::pair<dev_t, ino_t>, std::unique_ptr<Node>> nodes_;
};

}  // namespace ferry::hpc
