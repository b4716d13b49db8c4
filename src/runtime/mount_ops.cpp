#include "mount_ops.hpp"

#include <fcntl.h>
#include <linux/mount.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <fmt/format.h>

#include "ferry/core/error.hpp"
#include "ferry/core/fd.hpp"
#include "ferry/image/squashfs_server.hpp"
#include "ferry/runtime/container_spec.hpp"

namespace ferry::runtime {
namespace {

// Raw syscalls: stable kernel ABI (open_tree/move_mount 5.2, mount_setattr
// 5.12); Debian 12's glibc does not wrap them all.
int sys_open_tree(int dfd, const char* path, unsigned flags) {
  return static_cast<int>(::syscall(SYS_open_tree, dfd, path, flags));
}
int sys_move_mount(int from_dfd, const char* from, int to_dfd, const char* to, unsigned flags) {
  return static_cast<int>(::syscall(SYS_move_mount, from_dfd, from, to_dfd, to, flags));
}
int sys_mount_setattr(int dfd, const char* path, unsigned flags, struct mount_attr* attr) {
  return static_cast<int>(::syscall(SYS_mount_setattr, dfd, path, flags, attr, sizeof *attr));
}

struct mount_attr to_attr(MountFlags flags) {
  struct mount_attr attr {};
  if (flags.read_only) attr.attr_set |= MOUNT_ATTR_RDONLY;
  if (flags.nosuid) attr.attr_set |= MOUNT_ATTR_NOSUID;
  if (flags.nodev) attr.attr_set |= MOUNT_ATTR_NODEV;
  return attr;
}

}  // namespace

Fd clone_tree(int dirfd, const char* path) {
  unsigned flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE | (*path ? 0 : AT_EMPTY_PATH);
  return Fd(sys_open_tree(dirfd, path, flags));
}

void attach_tree(int tree_fd, int dst_fd, MountFlags flags, const std::string& what) {
  struct mount_attr attr = to_attr(flags);
  if (attr.attr_set != 0 && sys_mount_setattr(tree_fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr) != 0)
    throw_errno("mount_setattr", what);
  if (sys_move_mount(tree_fd, "", dst_fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) != 0)
    throw_errno("move_mount", what);
}

void bind_fd(int src_fd, int dst_fd, MountFlags flags, const std::string& what) {
  Fd tree = clone_tree(src_fd, "");
  if (!tree) throw_errno("open_tree", what);
  attach_tree(tree.get(), dst_fd, flags, what);
}

void set_mount_flags_fd(int fd, MountFlags flags, const std::string& what) {
  struct mount_attr attr = to_attr(flags);
  if (sys_mount_setattr(fd, "", AT_EMPTY_PATH, &attr) != 0) throw_errno("mount_setattr", what);
}

void mount_tmpfs(const std::string& target, const std::string& options) {
  if (::mount("tmpfs", target.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, options.c_str()) != 0)
    throw_errno("mount tmpfs", target);
}

void move_mount_to(const std::string& from, int dst_fd, const std::string& what) {
  if (::mount(from.c_str(), fd_path(dst_fd).c_str(), nullptr, MS_MOVE, nullptr) != 0)
    throw_errno("move mount onto", what);
}

// FUSE must be opened inside the new user namespace: the kernel ties the
// connection to the opener's namespace (fs/fuse/inode.c, fuse_fill_super).
static Fd open_fuse_device(const char* purpose = "to run SquashFS images") {
  Fd fd(::open("/dev/fuse", O_RDWR | O_CLOEXEC));
  if (fd) return fd;
  int err = errno;
  if (err == EACCES || err == EPERM)
    throw Error(err, "open", fmt::format("/dev/fuse (FUSE is not usable by this user: /dev/fuse must be "
                                         "mode 0666, as sites set it, {})", purpose));
  if (err == ENOENT) throw Error(err, "open", "/dev/fuse (the fuse kernel module is not loaded)");
  throw Error(err, "open", "/dev/fuse");
}

void mount_squashfs(image::SquashfsServer& server, const std::string& target, uid_t uid, gid_t gid) {
  Fd fuse = open_fuse_device();
  std::string data = fmt::format("fd={},rootmode=40000,user_id={},group_id={},default_permissions",
                                 fuse.get(), uid, gid);
  if (::mount("ferry", target.c_str(), "fuse.ferry", MS_RDONLY | MS_NOSUID | MS_NODEV, data.c_str()) != 0)
    throw_errno("mount fuse", target);
  // The kernel queues FUSE_INIT; nothing may touch the mount until it is served.
  server.start(fuse.release());
}

void mount_served(ServedFs& fs, const std::string& target, uid_t uid, gid_t gid) {
  Fd fuse = open_fuse_device("to use a per-node cache");
  std::string data = fmt::format("fd={},rootmode=40000,user_id={},group_id={},default_permissions",
                                 fuse.get(), uid, gid);
  std::string type = "fuse." + fs.name();
  if (::mount(fs.name().c_str(), target.c_str(), type.c_str(), MS_NOSUID | MS_NODEV, data.c_str()) != 0)
    throw_errno("mount fuse", target);
  fs.start(fuse.release());  // FUSE_INIT is queued: serve before anything looks
}

}  // namespace ferry::runtime
