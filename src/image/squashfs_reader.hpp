/// A thread-safe, read-only view of one SquashFS file: the half of the FUSE
/// server that knows the on-disk format and nothing about FUSE. Internal to
/// src/image (squashfs_server.cpp and its test include it).
///
/// Built on libsquashfuse, whose caches are not thread-safe: metadata
/// (inodes, directories, block lists, xattrs) is read under one mutex, while
/// data blocks are read and decompressed outside it and shared by all threads
/// through a small LRU cache (docs/design/squashfs-fuse.md). The first read()
/// starts a few helper threads that decompress blocks ahead of the readers;
/// open() starts none, and the destructor joins them.
///
/// Calls return 0 or an errno value, because that is what FUSE replies with;
/// ENOENT from lookup() is an expected answer, not a failure.
#pragma once

#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace ferry::image {

/// Where an inode lives: (metadata block offset << 16) | offset in block.
/// Stable for the life of the file, below 2^48, and shared by hard links.
using InodeRef = uint64_t;

/// One directory entry as readdir() reports it, "." and ".." included.
struct DirEntry {
  const char* name;                 // NUL-terminated, valid during the callback only
  ino_t ino;                        // the SquashFS inode number, as stat() reports it
  mode_t type;                      // S_IFMT bits only
  off_t next;                       // cookie that resumes the listing after this entry
  InodeRef ref = 0;                 // with attributes only, and not for "." and ".."
  const struct stat* st = nullptr;  // likewise
};

/// The bytes of one read: iovecs pointing into decompressed blocks that
/// `hold` keeps alive until the reply has been written.
struct ReadResult {
  std::vector<iovec> iov;
  std::vector<std::shared_ptr<const void>> hold;
  size_t size = 0;
};

class SquashfsReader {
 public:
  /// Opens PATH and checks its superblock, compression and root directory.
  /// Throws ferry::Error naming PATH and what is wrong with it.
  static std::unique_ptr<SquashfsReader> open(const std::string& path);
  ~SquashfsReader();
  SquashfsReader(const SquashfsReader&) = delete;
  SquashfsReader& operator=(const SquashfsReader&) = delete;

  InodeRef root() const noexcept;
  /// False when the image has no xattr table at all.
  bool has_xattrs() const noexcept;
  struct statvfs statfs() const noexcept;

  int stat(InodeRef ref, struct stat* st);
  /// ENOENT when DIR has no entry NAME; ENOTDIR when DIR is not a directory.
  int lookup(InodeRef dir, std::string_view name, InodeRef* child, struct stat* st);
  int readlink(InodeRef ref, std::string* target);
  /// Calls `emit` for each entry from `cookie` on (0: from the start) until
  /// it returns false or the directory ends. With `attrs`, each entry but
  /// "." and ".." also carries its inode reference and stat().
  int readdir(InodeRef dir, off_t cookie, bool attrs, const std::function<bool(const DirEntry&)>& emit);
  /// Appends "name\0" for every xattr of REF to *names.
  int listxattr(InodeRef ref, std::string* names);
  /// ENODATA when REF has no xattr NAME.
  int getxattr(InodeRef ref, std::string_view name, std::string* value);
  /// Up to SIZE bytes at OFF (fewer at end of file, none past it).
  int read(InodeRef ref, uint64_t off, size_t size, ReadResult* out);
  /// Gives back the memory of the decompressed-block cache (an idle mount:
  /// the kernel's page cache still holds what was read).
  void trim();

 private:
  struct Impl;
  explicit SquashfsReader(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ferry::image
