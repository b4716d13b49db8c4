// The FUSE half of the SquashFS server: libfuse's low-level API on a
// descriptor that the runtime has already mounted, served by detached worker
// threads. The format half is squashfs_reader.cpp; the design, the caching
// choices and the thread-safety story are in docs/design/squashfs-fuse.md.
#define FUSE_USE_VERSION 35

#include "ferry/image/squashfs_server.hpp"
#include "ferry/image/fuse_session.hpp"

#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <limits>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "ferry/core/error.hpp"
#include "ferry/core/fd.hpp"
#include "ferry/core/log.hpp"
#include "squashfs_reader.hpp"

namespace ferry::image {
namespace {

// The image never changes while it is mounted, so every entry, negative
// entry and attribute may be cached for as long as the kernel likes. libfuse
// turns DBL_MAX into ULONG_MAX seconds and the kernel clamps that to
// MAX_JIFFY_OFFSET (fs/fuse/dir.c, fuse_time_to_jiffies()); squashfuse does
// the same.
constexpr double kForever = std::numeric_limits<double>::max();

constexpr char kWorkerName[] = "ferry-sqfs";

/// What the worker threads share. They each hold a shared_ptr to it, so it
/// outlives the SquashfsServer object if the runtime drops that first.
struct State {
  explicit State(std::unique_ptr<SquashfsReader> r) : reader(std::move(r)), root(reader->root()) {}
  ~State() {
    if (session != nullptr) fuse_session_destroy(session);  // closes /dev/fuse
  }
  State(const State&) = delete;
  State& operator=(const State&) = delete;

  std::unique_ptr<SquashfsReader> reader;
  const InodeRef root;
  fuse_session* session = nullptr;
  std::atomic<unsigned long> served{0};
  std::atomic<bool> no_open{false};     // kernel can skip OPEN/RELEASE
  std::atomic<bool> no_opendir{false};  // kernel can skip OPENDIR/RELEASEDIR
};

State& state(fuse_req_t req) { return *static_cast<State*>(fuse_req_userdata(req)); }

// FUSE calls the root 1 (FUSE_ROOT_ID) and every other inode by a number the
// server picks. SquashFS inode references are unique, below 2^48, and shared
// by hard links, so "reference + 2" needs no table, is the same in every
// thread, and makes FORGET a no-op (libfuse answers it when no handler is set).
InodeRef to_ref(const State& st, fuse_ino_t ino) { return ino == FUSE_ROOT_ID ? st.root : ino - 2; }
fuse_ino_t to_ino(const State& st, InodeRef ref) { return ref == st.root ? FUSE_ROOT_ID : ref + 2; }

/// Runs a handler body; an allocation failure becomes ENOMEM rather than an
/// exception unwinding through libfuse's C frames.
template <typename Body>
void guarded(fuse_req_t req, Body&& body) noexcept {
  try {
    body();
  } catch (...) {
    fuse_reply_err(req, ENOMEM);
  }
}

void op_init(void* userdata, fuse_conn_info* conn) noexcept {
  auto& st = *static_cast<State*>(userdata);
  // libfuse aborts the session on a "want" the kernel is not "capable" of.
  conn->want |= conn->capable & (FUSE_CAP_CACHE_SYMLINKS | FUSE_CAP_PARALLEL_DIROPS | FUSE_CAP_ASYNC_READ |
                                 FUSE_CAP_READDIRPLUS);
  // Nothing changes under the kernel, so no invalidation on mtime changes;
  // replies come from memory, so no splicing either.
  conn->want &=
      ~(FUSE_CAP_AUTO_INVAL_DATA | FUSE_CAP_SPLICE_READ | FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE);
  st.no_open = (conn->capable & FUSE_CAP_NO_OPEN_SUPPORT) != 0;
  st.no_opendir = (conn->capable & FUSE_CAP_NO_OPENDIR_SUPPORT) != 0;
}

void op_lookup(fuse_req_t req, fuse_ino_t parent, const char* name) noexcept {
  State& st = state(req);
  fuse_entry_param e{};
  e.attr_timeout = e.entry_timeout = kForever;
  InodeRef child = 0;
  int err = st.reader->lookup(to_ref(st, parent), name, &child, &e.attr);
  if (err == ENOENT) {
    // Node id 0 with a timeout is a negative entry: the kernel keeps the
    // dentry and answers ENOENT itself next time (fs/fuse/dir.c,
    // fuse_lookup_name()). Python's import system probes many such names.
    e.attr = {};
    fuse_reply_entry(req, &e);
    return;
  }
  if (err != 0) {
    fuse_reply_err(req, err);
    return;
  }
  e.ino = to_ino(st, child);
  fuse_reply_entry(req, &e);
}

void op_getattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) noexcept {
  State& st = state(req);
  struct stat s {};
  int err = st.reader->stat(to_ref(st, ino), &s);
  if (err != 0)
    fuse_reply_err(req, err);
  else
    fuse_reply_attr(req, &s, kForever);
}

void op_readlink(fuse_req_t req, fuse_ino_t ino) noexcept {
  guarded(req, [&] {
    State& st = state(req);
    std::string target;
    int err = st.reader->readlink(to_ref(st, ino), &target);
    if (err != 0)
      fuse_reply_err(req, err);
    else
      fuse_reply_readlink(req, target.c_str());
  });
}

void op_open(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) noexcept {
  if ((fi->flags & O_ACCMODE) != O_RDONLY) {
    fuse_reply_err(req, EROFS);
    return;
  }
  // Where the kernel offers it (FUSE_NO_OPEN_SUPPORT, Linux 4.19), ENOSYS
  // means "never send OPEN or RELEASE again": the kernel then opens every
  // file itself with FOPEN_KEEP_CACHE (fs/fuse/file.c, fuse_file_open()).
  // That saves two round trips per open(2); reads need no file handle.
  if (state(req).no_open) {
    fuse_reply_err(req, ENOSYS);
    return;
  }
  fi->keep_cache = 1;  // page cache survives close and reopen
  fuse_reply_open(req, fi);
}

void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info*) noexcept {
  guarded(req, [&] {
    State& st = state(req);
    ReadResult r;
    int err = st.reader->read(to_ref(st, ino), static_cast<uint64_t>(off), size, &r);
    if (err != 0)
      fuse_reply_err(req, err);
    else if (r.iov.empty())
      fuse_reply_buf(req, nullptr, 0);  // end of file
    else
      fuse_reply_iov(req, r.iov.data(), static_cast<int>(r.iov.size()));  // no copy
  });
}

void op_opendir(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) noexcept {
  // As for open; the kernel's default for directories is then
  // FOPEN_KEEP_CACHE | FOPEN_CACHE_DIR (Linux 5.1).
  if (state(req).no_opendir) {
    fuse_reply_err(req, ENOSYS);
    return;
  }
  fi->cache_readdir = 1;  // listings go to the directory's page cache...
  fi->keep_cache = 1;     // ...and stay there across opendir calls
  fuse_reply_open(req, fi);
}

size_t add_entry(fuse_req_t req, const State& st, char* buf, size_t room, const DirEntry& d, bool plus) {
  if (!plus) {
    struct stat s {};
    s.st_ino = d.ino;
    s.st_mode = d.type;
    return fuse_add_direntry(req, buf, room, d.name, &s, d.next);
  }
  fuse_entry_param e{};  // node id 0 ("." and ".."): the kernel links nothing
  e.attr.st_ino = d.ino;
  e.attr.st_mode = d.type;
  if (d.st != nullptr) {
    e.ino = to_ino(st, d.ref);
    e.attr = *d.st;
    e.attr_timeout = e.entry_timeout = kForever;
  }
  return fuse_add_direntry_plus(req, buf, room, d.name, &e, d.next);
}

// READDIRPLUS also returns each entry's attributes, and the kernel fills its
// dentry cache from them (fs/fuse/readdir.c, fuse_direntplus_link()): a
// program that lists a directory and then opens some names in it, as
// Python's import system does, sends no LOOKUP for them.
void reply_listing(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, bool plus) {
  State& st = state(req);
  std::vector<char> buf(size);
  size_t used = 0;
  int err = st.reader->readdir(to_ref(st, ino), off, plus, [&](const DirEntry& d) {
    size_t n = add_entry(req, st, buf.data() + used, size - used, d, plus);
    if (n > size - used) return false;  // full: the kernel asks again from d.next
    used += n;
    return true;
  });
  if (err != 0)
    fuse_reply_err(req, err);
  else
    fuse_reply_buf(req, buf.data(), used);
}

void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info*) noexcept {
  guarded(req, [&] { reply_listing(req, ino, size, off, false); });
}

void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info*) noexcept {
  guarded(req, [&] { reply_listing(req, ino, size, off, true); });
}

void op_statfs(fuse_req_t req, fuse_ino_t) noexcept {
  struct statvfs sv = state(req).reader->statfs();
  fuse_reply_statfs(req, &sv);
}

void reply_xattr(fuse_req_t req, int err, const std::string& data, size_t size) {
  if (err != 0)
    fuse_reply_err(req, err);
  else if (size == 0)
    fuse_reply_xattr(req, data.size());  // caller asks for the length
  else if (size < data.size())
    fuse_reply_err(req, ERANGE);
  else
    fuse_reply_buf(req, data.data(), data.size());
}

// An image without an xattr table answers ENOSYS: the kernel then stops
// asking (fc->no_getxattr, fc->no_listxattr) and fails those calls with
// EOPNOTSUPP itself, which spares a round trip for "security.capability" on
// every execve() (security/commoncap.c, get_vfs_caps_from_disk()).
void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size) noexcept {
  guarded(req, [&] {
    State& st = state(req);
    if (!st.reader->has_xattrs()) return (void)fuse_reply_err(req, ENOSYS);
    std::string value;
    reply_xattr(req, st.reader->getxattr(to_ref(st, ino), name, &value), value, size);
  });
}

void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size) noexcept {
  guarded(req, [&] {
    State& st = state(req);
    if (!st.reader->has_xattrs()) return (void)fuse_reply_err(req, ENOSYS);
    std::string names;
    reply_xattr(req, st.reader->listxattr(to_ref(st, ino), &names), names, size);
  });
}

// Write operations are left unset: the mount is MS_RDONLY, so the VFS answers
// EROFS before a request is made, and libfuse answers ENOSYS to any stray one.
fuse_lowlevel_ops make_ops() {
  fuse_lowlevel_ops ops{};
  ops.init = op_init;
  ops.lookup = op_lookup;
  ops.getattr = op_getattr;
  ops.readlink = op_readlink;
  ops.open = op_open;
  ops.read = op_read;
  ops.opendir = op_opendir;
  ops.readdir = op_readdir;
  ops.readdirplus = op_readdirplus;
  ops.statfs = op_statfs;
  ops.getxattr = op_getxattr;
  ops.listxattr = op_listxattr;
  return ops;
}

const fuse_lowlevel_ops kOps = make_ops();

unsigned worker_count() {
  // Requests are short, but a read of a cold image on a parallel file system
  // waits on the network; more workers keep more of those in flight.
  return std::clamp(std::thread::hardware_concurrency(), 4u, 16u);
}

class FuseServer final : public SquashfsServer {
 public:
  explicit FuseServer(std::unique_ptr<SquashfsReader> reader)
      : state_(std::make_shared<State>(std::move(reader))) {}

  void start(int fuse_fd) override {
    if (state_->session != nullptr) throw Error("SquashFS server: started twice");
    state_->session = attach_fuse_session(fuse_fd, kOps, state_.get(), "SquashFS server");  // ~State destroys it
    auto st = state_;
    spawn_fuse_workers(worker_count(), [st] { serve_fuse_requests(st->session, kWorkerName, &st->served); },
                       "SquashFS server");
  }

  unsigned long requests_served() const override { return state_->served.load(std::memory_order_relaxed); }
  void trim() override { state_->reader->trim(); }

 private:
  std::shared_ptr<State> state_;
};

}  // namespace

std::unique_ptr<SquashfsServer> SquashfsServer::open(const std::string& path) {
  return std::make_unique<FuseServer>(SquashfsReader::open(path));
}

bool is_squashfs_file(const std::string& path) {
  // O_NONBLOCK: a FIFO given as an image must not hang us.
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (!fd) return false;
  char magic[4];
  return ::pread(fd.get(), magic, sizeof magic, 0) == 4 && std::memcmp(magic, "hsqs", 4) == 0;
}

}  // namespace ferry::image
