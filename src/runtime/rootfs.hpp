/// The container's root file system while it is being assembled: resolving
/// paths inside it as the container will see them, and finding the mount
/// points a read-only image lacks.
///
/// Resolution walks one component at a time from a directory fd (STYLE.md 7):
/// an absolute symlink restarts at the container root, and a ".." that would
/// climb above the root is refused, so nothing in an image can point a mount
/// at a host path. Most paths need neither rule: one openat2(RESOLVE_BENEATH)
/// resolves them in the kernel, which refuses (EXDEV) exactly the paths that
/// leave the root or take an absolute symlink; those take the walk. A
/// component missing before any of them is final (ENOENT): no walk.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "ferry/core/fd.hpp"

namespace ferry::runtime {

/// Where a mount point is missing: the directories that exist (real names,
/// symlinks resolved, with their modes) and the components still missing.
struct MissingPath {
  std::vector<std::string> existing;
  std::vector<mode_t> modes;
  std::vector<std::string> rest;
  bool directory = true;  ///< what the last component must be
};

class Rootfs {
 public:
  /// root: the root's path in ferry's mount namespace.
  explicit Rootfs(std::string root);

  /// O_PATH fd of PATH inside the root, or nullopt when it does not exist.
  std::optional<Fd> open(const std::string& path, bool follow_last = true);

  /// PATH opened for reading when it is a regular file (O_NONBLOCK: a FIFO
  /// there cannot hang ferry), with its size in ST; nullopt otherwise.
  std::optional<Fd> open_file(const std::string& path, struct stat& st);

  /// nullopt when PATH exists as the wanted type; what is missing otherwise.
  /// Throws if it exists with the other type. ON_ROOT, when given, is set
  /// to whether PATH is the root itself (/, or a symlink that leads there).
  std::optional<MissingPath> missing(const std::string& path, bool directory, bool* on_root = nullptr);

  /// O_PATH fd of PATH, making it (mkdir, or an empty file) when missing and
  /// its parent is writable (a host bind). Throws naming PATH otherwise.
  /// ON_ROOT, when given, is set as missing() sets it, for the root as
  /// mounted now.
  Fd ensure(const std::string& path, bool directory, bool* on_root = nullptr);
  /// O_PATH fd of PATH, which must exist as the wanted type: a mount point
  /// that the image's layer holds, now perhaps reached through a symlink in
  /// the image. Missing, it has been led into another mount: made there
  /// (ensure) when that is one of ferry's own (private_mount), else, as
  /// a host directory, nothing is made for it: throws naming PATH. ON_ROOT
  /// as for ensure().
  Fd existing(const std::string& path, bool directory, bool* on_root = nullptr);
  /// STAGED (a host path, in ferry's staging directory) holds a file system
  /// of ferry's own, private to the container (a tmpfs, a per-node cache),
  /// about to be moved into the root: mount points may be made in it. Asked
  /// there, before the move, so that no path in the root is resolved again.
  void private_mount(const std::string& staged);

  /// Something was just mounted on the root itself (a volume at /, or at a
  /// symlink in the image that leads there): later lookups start from the
  /// mount, as a path lookup of the root would.
  void root_replaced() { root_fd_.reset(); }

 private:
  struct Walk {
    std::vector<Fd> chain;          // root .. deepest existing directory
    std::vector<std::string> names;  // the real name of each (root: "")
    std::optional<Fd> found;        // the object itself, when it exists
    std::vector<std::string> rest;  // components still missing, when it does not
  };
  Walk walk(const std::string& path, bool follow_last);
  /// One openat2 beneath the root: found (into OUT), absent, or for the
  /// walk to decide.
  enum class Beneath { kFound, kAbsent, kWalk };
  Beneath resolve_beneath(const std::string& path, int flags, Fd& out);
  int root_fd();
  /// Throws naming PATH unless FD is of the wanted type; sets ON_ROOT, when
  /// given, to whether FD is the root as mounted now (from the same stat).
  void check_type(int fd, const std::string& path, bool directory, bool* on_root = nullptr);

  std::string root_;
  std::vector<dev_t> private_devs_;  // of private_mount()s
  Fd root_fd_;  // opened at first use (the root is mounted after construction)
  struct stat root_id_ {};  // root_fd_'s device and inode
};

/// Creates the missing paths under `layer` (a fresh tmpfs), each existing
/// directory with the image's mode, so that the layer stacked over the image
/// in an overlay supplies exactly the mount points the image lacks.
void make_mount_points(const std::string& layer, const std::vector<MissingPath>& points);

}  // namespace ferry::runtime
