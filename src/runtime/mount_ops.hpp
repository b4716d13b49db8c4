/// Thin wrappers over the mount syscalls: one syscall, one message naming the
/// call and its path (STYLE.md 10). Targets are open O_PATH descriptors, so
/// nothing in an image can redirect a mount by swapping a path component.
#pragma once

#include <sys/types.h>

#include <string>

#include "ferry/core/fd.hpp"

namespace ferry::image {
class SquashfsServer;
}

namespace ferry::runtime {

class ServedFs;

struct MountFlags {
  bool read_only = false;
  bool nosuid = true;
  bool nodev = true;
};

/// A detached copy of the mount tree at dirfd/path (with its submounts),
/// taken now: mounts made later at that place are not in it.
/// (open_tree(2) OPEN_TREE_CLONE|AT_RECURSIVE). Returns an invalid Fd and
/// leaves errno set on failure.
Fd clone_tree(int dirfd, const char* path);

/// Attaches a tree from clone_tree() onto the object behind dst_fd, after
/// setting `flags` on every mount of the detached copy.
void attach_tree(int tree_fd, int dst_fd, MountFlags flags, const std::string& what);

/// Binds the tree behind src_fd (with its submounts) onto the object behind
/// dst_fd. The flags are set on the detached copy before it is attached
/// (open_tree(2) + mount_setattr(2) + move_mount(2)), so the mount is never
/// visible without them; the source mounts are not changed.
void bind_fd(int src_fd, int dst_fd, MountFlags flags, const std::string& what);

/// Sets flags on the mount that fd's path belongs to (e.g. an O_PATH fd of a
/// tmpfs root), keeping the flags the kernel locked on it.
void set_mount_flags_fd(int fd, MountFlags flags, const std::string& what);

/// A fresh tmpfs at `target` (nosuid, nodev).
void mount_tmpfs(const std::string& target, const std::string& options);

/// Moves the mount at `from` onto the object behind dst_fd (MS_MOVE).
void move_mount_to(const std::string& from, int dst_fd, const std::string& what);

/// Mounts a FUSE file system at `target` served by SERVER: opens /dev/fuse
/// (in the caller's user namespace, which the connection is tied to), mount(2)
/// read-only, nosuid, nodev, for UID/GID only, then starts the server.
void mount_squashfs(image::SquashfsServer& server, const std::string& target, uid_t uid, gid_t gid);

/// Mounts a FUSE file system at `target` served by FS (per-node cache):
/// /dev/fuse opened in the caller's user namespace, mount(2) read-write,
/// nosuid, nodev, for UID/GID only, with the kernel checking file modes
/// (default_permissions); then FS starts serving.
void mount_served(ServedFs& fs, const std::string& target, uid_t uid, gid_t gid);

}  // namespace ferry::runtime
