/// The container's root file system while it is being assembled: resolving
/// paths inside it as the container will see them, and creating mount points
/// that a read-only image lacks without changing the image.
///
/// Resolution walks one component at a time from a directory fd (STYLE.md 7):
/// an absolute symlink restarts at the container root, and a ".." that would
/// climb above the root is refused, so nothing in an image can point a mount
/// at a host path. A missing mount point is created with mkdir when its parent
/// is writable; on a read-only parent (the image), the parent is replaced by a
/// "shadow": a tmpfs that holds a bind of every original entry, plus the new
/// one. Shadows are made read-only by seal() before the container starts.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "ferry/core/fd.hpp"

namespace ferry::runtime {

class Rootfs {
 public:
  /// root: the assembled root's path in ferry's namespace; staging: a
  /// writable private directory (tmpfs) for shadow mounts.
  Rootfs(std::string root, std::string staging);

  /// O_PATH fd of PATH inside the root, or nullopt when it does not exist.
  std::optional<Fd> open(const std::string& path, bool follow_last = true);

  /// O_PATH fd of PATH inside the root, creating a directory (or an empty
  /// file) there when it is missing. Throws if it exists with the wrong type.
  Fd ensure(const std::string& path, bool directory);

  /// Makes every shadow directory read-only.
  void seal();

 private:
  struct Walk {
    std::vector<Fd> chain;          // root .. deepest existing directory
    std::optional<Fd> found;        // the object itself, when it exists
    std::vector<std::string> rest;  // components still missing, when it does not
  };
  Walk walk(const std::string& path, bool follow_last);
  void shadow(int dir_fd, const std::string& what);

  std::string root_;
  std::string staging_;
  std::vector<Fd> shadows_;
};

}  // namespace ferry::runtime
