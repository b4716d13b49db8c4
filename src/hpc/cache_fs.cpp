// The FUSE half of a per-node cache: libfuse's low-level API passing each
// request through to the backing directory (cache_dir.cpp), with every path
// taken relative to a descriptor and never through a symlink, and with the
// blocks the files allocate counted against the cache's size. The design,
// the accounting rules and the choice of no writeback cache are in
// docs/design/per-node-cache.md.
#define FUSE_USE_VERSION 35

#include <dirent.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include "cache_internal.hpp"
#include "cache_state.hpp"
#include "ferry/core/error.hpp"
#include "ferry/core/limits.hpp"
#include "ferry/core/log.hpp"
#include "ferry/image/fuse_session.hpp"

namespace ferry::hpc {
namespace {

State& state(fuse_req_t req) { return *static_cast<State*>(fuse_req_userdata(req)); }

// The kernel sends single components; "." and ".." (which would climb out
// of the backing root) are refused rather than trusted.
bool bad_name(const char* name) {
  return name[0] == '\0' || std::strcmp(name, ".") == 0 || std::strcmp(name, "..") == 0 ||
         std::strchr(name, '/') != nullptr;
}

template <typename Body>
void guarded(fuse_req_t req, Body&& body) noexcept {
  try {
    body();
  } catch (...) {
    fuse_reply_err(req, ENOMEM);
  }
}

void reply_entry(fuse_req_t req, int parent, const char* name) {
  fuse_entry_param e{};
  int err = state(req).lookup(parent, name, &e);
  if (err != 0) fuse_reply_err(req, err);
  else fuse_reply_entry(req, &e);
}

void op_init(void* userdata, fuse_conn_info* conn) noexcept {
  (void)userdata;
  conn->want |= conn->capable & (FUSE_CAP_PARALLEL_DIROPS | FUSE_CAP_ASYNC_READ);
  // No writeback cache: a write(2) must fail with ENOSPC when the cache is
  // full, not a later close. No atomic O_TRUNC: the kernel truncates with
  // SETATTR first, where the freed blocks are counted.
  conn->want &= ~(FUSE_CAP_WRITEBACK_CACHE | FUSE_CAP_ATOMIC_O_TRUNC);
  conn->max_write = kMaxWrite;  // libfuse asks for max_pages to match
}

void op_lookup(fuse_req_t req, fuse_ino_t parent, const char* name) noexcept {
  guarded(req, [&] {
    if (bad_name(name)) return (void)fuse_reply_err(req, std::strcmp(name, ".") == 0 ? EINVAL : EPERM);
    fuse_entry_param e{};
    int err = state(req).lookup(state(req).node(parent).fd.get(), name, &e);
    if (err == ENOENT) {
      // Node id 0 with a timeout: a negative entry the kernel keeps (only
      // this mount creates names, and the kernel drops it when it does).
      e = fuse_entry_param{};
      e.entry_timeout = kTimeout;
      return (void)fuse_reply_entry(req, &e);
    }
    if (err != 0) fuse_reply_err(req, err);
    else fuse_reply_entry(req, &e);
  });
}

void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t n) noexcept {
  state(req).forget(ino, n);
  fuse_reply_none(req);
}

void op_forget_multi(fuse_req_t req, size_t count, fuse_forget_data* f) noexcept {
  for (size_t i = 0; i < count; ++i) state(req).forget(f[i].ino, f[i].nlookup);
  fuse_reply_none(req);
}

void op_getattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) noexcept {
  struct stat s {};
  if (::fstatat(state(req).node(ino).fd.get(), "", &s, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) != 0)
    return (void)fuse_reply_err(req, errno);
  fuse_reply_attr(req, &s, kTimeout);
}

void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set, fuse_file_info* fi) noexcept {
  guarded(req, [&] {
    State& st = state(req);
    int err = st.setattr(st.node(ino), *attr, to_set, fi ? static_cast<int>(fi->fh) : -1);
    if (err != 0) return (void)fuse_reply_err(req, err);
    op_getattr(req, ino, fi);
  });
}

void op_readlink(fuse_req_t req, fuse_ino_t ino) noexcept {
  char buf[PATH_MAX + 1];
  ssize_t n = ::readlinkat(state(req).node(ino).fd.get(), "", buf, sizeof buf);
  if (n < 0) return (void)fuse_reply_err(req, errno);
  if (n == sizeof buf) return (void)fuse_reply_err(req, ENAMETOOLONG);
  buf[n] = '\0';
  fuse_reply_readlink(req, buf);
}

void op_mknod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, dev_t rdev) noexcept {
  guarded(req, [&] {
    if (bad_name(name)) return (void)fuse_reply_err(req, EPERM);
    int dir = state(req).node(parent).fd.get();
    int err = state(req).make(dir, name, false, [&] { return ::mknodat(dir, name, mode, rdev); });
    if (err != 0) return (void)fuse_reply_err(req, err);
    reply_entry(req, dir, name);
  });
}

void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode) noexcept {
  guarded(req, [&] {
    if (bad_name(name)) return (void)fuse_reply_err(req, EPERM);
    State& st = state(req);
    int dir = st.node(parent).fd.get();
    int err = st.make(dir, name, true, [&] { return ::mkdirat(dir, name, mode); });
    if (err != 0) return (void)fuse_reply_err(req, err);
    reply_entry(req, dir, name);
  });
}

void op_symlink(fuse_req_t req, const char* target, fuse_ino_t parent, const char* name) noexcept {
  guarded(req, [&] {
    if (bad_name(name)) return (void)fuse_reply_err(req, EPERM);
    int dir = state(req).node(parent).fd.get();
    // The target is stored, never followed by ferry: the kernel resolves
    // it inside the container, where it can only name the container's paths.
    int err = state(req).make(dir, name, false, [&] { return ::symlinkat(target, dir, name); });
    if (err != 0) return (void)fuse_reply_err(req, err);
    reply_entry(req, dir, name);
  });
}

void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t parent, const char* name) noexcept {
  guarded(req, [&] {
    if (bad_name(name)) return (void)fuse_reply_err(req, EPERM);
    State& st = state(req);
    Node& n = st.node(ino);
    int dir = st.node(parent).fd.get();
    // linkat(AT_EMPTY_PATH) needs CAP_DAC_READ_SEARCH; the /proc link of
    // our own descriptor names the same inode without it.
    if (::linkat(st.proc_fd(), std::to_string(n.fd.get()).c_str(), dir, name, AT_SYMLINK_FOLLOW) != 0)
      return (void)fuse_reply_err(req, errno);
    reply_entry(req, dir, name);
  });
}

void op_unlink(fuse_req_t req, fuse_ino_t parent, const char* name) noexcept {
  guarded(req, [&] {
    if (bad_name(name)) return (void)fuse_reply_err(req, EPERM);
    fuse_reply_err(req, state(req).remove(state(req).node(parent).fd.get(), name, false));
  });
}

void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char* name) noexcept {
  guarded(req, [&] {
    if (bad_name(name)) return (void)fuse_reply_err(req, EPERM);
    fuse_reply_err(req, state(req).remove(state(req).node(parent).fd.get(), name, true));
  });
}

void op_rename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t newparent, const char* newname,
               unsigned int flags) noexcept {
  guarded(req, [&] {
    if (bad_name(name) || bad_name(newname)) return (void)fuse_reply_err(req, EPERM);
    State& st = state(req);
    fuse_reply_err(req, st.rename(st.node(parent).fd.get(), name, st.node(newparent).fd.get(), newname, flags));
  });
}

void op_open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) noexcept {
  State& st = state(req);
  Node& n = st.node(ino);
  int fd = st.open_node(n, fi->flags);
  if (fd < 0) return (void)fuse_reply_err(req, -fd);
  fi->fh = static_cast<uint64_t>(fd);
  fi->keep_cache = 1;  // every change to the file passes through this mount
  if (fuse_reply_open(req, fi) != 0) st.release(n, fd);
}

void op_create(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, fuse_file_info* fi) noexcept {
  guarded(req, [&] {
    if (bad_name(name)) return (void)fuse_reply_err(req, EPERM);
    State& st = state(req);
    fuse_entry_param e{};
    int fd = st.create(st.node(parent).fd.get(), name, mode, fi->flags, &e);
    if (fd < 0) return (void)fuse_reply_err(req, -fd);
    fi->fh = static_cast<uint64_t>(fd);
    fi->keep_cache = 1;
    if (fuse_reply_create(req, &e, fi) != 0) st.release(st.node(e.ino), fd);
  });
}

void op_read(fuse_req_t req, fuse_ino_t, size_t size, off_t off, fuse_file_info* fi) noexcept {
  fuse_bufvec buf = fd_buf(size);
  buf.buf[0].flags = static_cast<fuse_buf_flags>(FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK);
  buf.buf[0].fd = static_cast<int>(fi->fh);
  buf.buf[0].pos = off;
  fuse_reply_data(req, &buf, FUSE_BUF_SPLICE_MOVE);
}

void op_write_buf(fuse_req_t req, fuse_ino_t ino, fuse_bufvec* in, off_t off, fuse_file_info* fi) noexcept {
  State& st = state(req);
  ssize_t n = st.write(st.node(ino), static_cast<int>(fi->fh), in, off);
  if (n < 0) fuse_reply_err(req, static_cast<int>(-n));
  else fuse_reply_write(req, static_cast<size_t>(n));
}

void op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len, fuse_file_info* fi) noexcept {
  State& st = state(req);
  fuse_reply_err(req, st.fallocate(st.node(ino), static_cast<int>(fi->fh), mode, off, len));
}

void op_release(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) noexcept {
  State& st = state(req);
  st.release(st.node(ino), static_cast<int>(fi->fh));
  fuse_reply_err(req, 0);
}

void op_fsync(fuse_req_t req, fuse_ino_t, int datasync, fuse_file_info* fi) noexcept {
  int fd = static_cast<int>(fi->fh);
  fuse_reply_err(req, (datasync ? ::fdatasync(fd) : ::fsync(fd)) == 0 ? 0 : errno);
}

// A directory handle: the stream and where the kernel's last offset left it.
struct DirHandle {
  DIR* dp = nullptr;
  off_t offset = 0;
  dirent* entry = nullptr;
};

void op_opendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) noexcept {
  State& st = state(req);
  int fd = st.reopen(st.node(ino), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return (void)fuse_reply_err(req, -fd);
  auto* h = new (std::nothrow) DirHandle;
  if (h != nullptr) h->dp = ::fdopendir(fd);
  if (h == nullptr || h->dp == nullptr) {
    int err = h == nullptr ? ENOMEM : errno;
    ::close(fd);
    delete h;
    return (void)fuse_reply_err(req, err);
  }
  fi->fh = reinterpret_cast<uint64_t>(h);
  fi->cache_readdir = 1;
  if (fuse_reply_open(req, fi) != 0) {
    ::closedir(h->dp);
    delete h;
  }
}

void op_readdir(fuse_req_t req, fuse_ino_t, size_t size, off_t off, fuse_file_info* fi) noexcept {
  auto* h = reinterpret_cast<DirHandle*>(fi->fh);
  char* buf = static_cast<char*>(std::malloc(size));
  if (buf == nullptr) return (void)fuse_reply_err(req, ENOMEM);
  if (off != h->offset) {
    ::seekdir(h->dp, off);
    h->entry = nullptr;
    h->offset = off;
  }
  size_t used = 0;
  int err = 0;
  for (;;) {
    if (h->entry == nullptr) {
      errno = 0;
      h->entry = ::readdir(h->dp);
      if (h->entry == nullptr) {
        err = errno;
        break;
      }
    }
    struct stat s {};
    s.st_ino = h->entry->d_ino;
    s.st_mode = static_cast<mode_t>(h->entry->d_type) << 12;
    off_t next = h->entry->d_off;
    size_t need = fuse_add_direntry(req, buf + used, size - used, h->entry->d_name, &s, next);
    if (need > size - used) break;  // full: this entry goes first next time
    used += need;
    h->entry = nullptr;
    h->offset = next;
  }
  if (err != 0 && used == 0) fuse_reply_err(req, err);
  else fuse_reply_buf(req, buf, used);
  std::free(buf);
}

void op_releasedir(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) noexcept {
  auto* h = reinterpret_cast<DirHandle*>(fi->fh);
  ::closedir(h->dp);
  delete h;
  fuse_reply_err(req, 0);
}

void op_fsyncdir(fuse_req_t req, fuse_ino_t, int datasync, fuse_file_info* fi) noexcept {
  int fd = ::dirfd(reinterpret_cast<DirHandle*>(fi->fh)->dp);
  fuse_reply_err(req, (datasync ? ::fdatasync(fd) : ::fsync(fd)) == 0 ? 0 : errno);
}

void op_statfs(fuse_req_t req, fuse_ino_t) noexcept {
  struct statvfs sv {};
  int err = state(req).statfs(&sv);
  if (err != 0) fuse_reply_err(req, err);
  else fuse_reply_statfs(req, &sv);
}

// No flush handler: libfuse answers ENOSYS once and the kernel stops
// sending FLUSH at every close (fc->no_flush), one round trip fewer per
// file; the backing file needs nothing at close. No xattr handlers either.
fuse_lowlevel_ops make_ops() {
  fuse_lowlevel_ops ops{};
  ops.init = op_init;
  ops.lookup = op_lookup;
  ops.forget = op_forget;
  ops.forget_multi = op_forget_multi;
  ops.getattr = op_getattr;
  ops.setattr = op_setattr;
  ops.readlink = op_readlink;
  ops.mknod = op_mknod;
  ops.mkdir = op_mkdir;
  ops.symlink = op_symlink;
  ops.link = op_link;
  ops.unlink = op_unlink;
  ops.rmdir = op_rmdir;
  ops.rename = op_rename;
  ops.open = op_open;
  ops.create = op_create;
  ops.read = op_read;
  ops.write_buf = op_write_buf;
  ops.fallocate = op_fallocate;
  ops.release = op_release;
  ops.fsync = op_fsync;
  ops.opendir = op_opendir;
  ops.readdir = op_readdir;
  ops.releasedir = op_releasedir;
  ops.fsyncdir = op_fsyncdir;
  ops.statfs = op_statfs;
  return ops;
}

const fuse_lowlevel_ops kOps = make_ops();

class CacheFs final : public runtime::ServedFs {
 public:
  CacheFs(CacheDir dir, uint64_t size) : dir_(std::move(dir)), state_(std::make_shared<State>(dir_.data(), size)) {}

  std::string name() const override { return "ferry-cache"; }

  void start(int fuse_fd) override {
    if (state_->session != nullptr) throw Error("per-node cache: started twice");
    // Every node the kernel knows is an open descriptor here, so the soft
    // limit on open files (often 1024) would cap the files a cache holds.
    raise_open_files_limit();
    state_->session = image::attach_fuse_session(fuse_fd, kOps, state_.get(), "per-node cache");
    auto st = state_;
    image::spawn_fuse_workers(std::clamp(std::thread::hardware_concurrency(), 2u, 8u),
                       [st] { image::serve_fuse_requests(st->session, "ferry-cache"); }, "per-node cache");
    log::debug("per-node cache served from " + dir_.path());
  }

 private:
  CacheDir dir_;  // removed when the last copy of the spec goes
  std::shared_ptr<State> state_;
};

}  // namespace

std::shared_ptr<runtime::ServedFs> make_cache_fs(CacheDir dir, uint64_t size) {
  return std::make_shared<CacheFs>(std::move(dir), size);
}

}  // namespace ferry::hpc
