/// Serves one read-only SquashFS file over FUSE from threads inside the ferry
/// process (ARCHITECTURE.md decision 3: an image is one file). No helper
/// process and no fusermount: the runtime opens /dev/fuse, calls mount(2)
/// itself inside its user+mount namespaces, then hands the descriptor here.
///
/// Because an image never changes while mounted, every reply tells the kernel
/// to cache it for as long as the mount lives: entries (negative ones too),
/// attributes, symlink targets, directory listings and file pages.
#pragma once

#include <memory>
#include <string>

namespace ferry::image {

class SquashfsServer {
 public:
  /// Opens and validates PATH (superblock, compression this build can read).
  /// Starts no thread, so it may run before unshare(CLONE_NEWUSER).
  /// Throws ferry::Error naming PATH and what is wrong with it.
  static std::unique_ptr<SquashfsServer> open(const std::string& path);

  virtual ~SquashfsServer() = default;

  /// Starts serving the FUSE connection on `fuse_fd` (an open /dev/fuse that
  /// the caller already passed to mount(2) as "fd=N"). Returns at once; the
  /// worker threads stop by themselves when the mount goes away (ENODEV).
  /// Takes ownership of fuse_fd.
  virtual void start(int fuse_fd) = 0;

  /// Number of FUSE requests answered so far (for diagnostics and benchmarks).
  virtual unsigned long requests_served() const = 0;

  /// Frees the decompressed-block cache, for a mount nobody uses now (the
  /// kernel's page cache keeps what was read). Safe while serving.
  virtual void trim() = 0;
};

/// True when the file at PATH starts with the SquashFS magic ("hsqs").
bool is_squashfs_file(const std::string& path);

}  // namespace ferry::image
