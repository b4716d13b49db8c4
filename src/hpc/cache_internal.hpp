/// The two halves of a per-node cache (ferry/hpc/cache.hpp): its backing
/// directory on node-local disk (cache_dir.cpp) and the FUSE server that
/// passes the container's requests through to it (cache_fs.cpp).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "ferry/core/fd.hpp"
#include "ferry/runtime/container_spec.hpp"

namespace ferry::hpc {

/// One cache's private directory, DIR/ferry-cache-UID/c-RANDOM, holding
/// `data` (what the container sees). This process holds an flock(2) on it
/// for as long as the object lives, which is how another ferry tells a live
/// cache from one whose ferry was killed (stale: removed by make()). The
/// destructor removes the whole tree, through descriptors only: by then the
/// process may be in the container's mount namespace, where DIR is hidden.
class CacheDir {
 public:
  /// Checks (or makes) DIR/ferry-cache-UID (a directory of the caller's,
  /// mode 0700, not a symlink), removes stale caches in it, and makes a
  /// locked one. Throws a one-line Error naming the path.
  static CacheDir make(const std::string& dir);

  CacheDir(CacheDir&&) noexcept = default;
  CacheDir& operator=(CacheDir&&) = delete;
  CacheDir(const CacheDir&) = delete;
  ~CacheDir();

  /// O_PATH descriptor of `data`, the root of the served tree.
  int data() const { return data_.get(); }
  /// Host path of `data` (for messages and --debug).
  const std::string& path() const { return path_; }

 private:
  CacheDir() = default;
  Fd parent_;  ///< DIR/ferry-cache-UID
  Fd self_;    ///< c-RANDOM, O_RDONLY: carries the flock
  Fd data_;
  std::string name_;
  std::string path_;
};

/// Removes NAME in directory PARENT and everything below it, through
/// descriptors, never following a symlink; directories the container made
/// unreadable are made readable first. Best effort: returns false if
/// something remained.
bool remove_tree_at(int parent, const std::string& name) noexcept;

/// The FUSE passthrough server of one cache, limited to `size` bytes of
/// allocated blocks.
std::shared_ptr<runtime::ServedFs> make_cache_fs(CacheDir dir, uint64_t size);

}  // namespace ferry::hpc
