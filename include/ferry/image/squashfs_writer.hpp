/// Writing one SquashFS file in process with libsquashfs (squashfs-tools-ng):
/// file bodies are streamed into the data area as they come, compressed on
/// all cores by its block processor, and the directory tree, built in memory
/// by the caller (the flattener), is serialized once at commit().
///
/// The writer owns a temporary file beside the target; commit() fsyncs it and
/// renames it over the target (STYLE.md 6). Destroying a writer that was not
/// committed removes the temporary file. Output is reproducible: the same
/// calls give the same bytes, whatever the number of threads.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "ferry/image/layer.hpp"

namespace ferry::image {

/// A file body already in the data area; owned by the SquashfsWriter.
struct FileBody;

/// One path of the tree to serialize. The flattener's bookkeeping (layer,
/// opaque_below, has_meta) lives here too, so that a path costs one node.
struct TreeNode {
  enum class Kind : uint8_t { kDir, kFile, kSymlink, kFifo, kHardlink, kWhiteout };
  Kind kind = Kind::kDir;
  uint16_t layer = 0;             // the (newest-first) layer that put it here
  uint16_t opaque_below = 0xFFFF;  // dirs: entries of layers > this are hidden
  bool has_meta = false;          // dirs: metadata came from an entry
  mode_t mode = 0755;             // permission bits only
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint32_t mtime = 0;
  std::string target;  // symlink target; hard link target path (before resolution)
  std::vector<std::pair<std::string, std::string>> xattrs;
  FileBody* body = nullptr;                                          // kFile
  TreeNode* link = nullptr;                                          // kHardlink, resolved
  std::map<std::string, std::unique_ptr<TreeNode>, std::less<>> children;  // kDir, sorted
  // Filled by the writer while serializing.
  uint32_t inode_num = 0;
  uint32_t nlink = 0;
  uint64_t inode_ref = 0;
};

struct WriterOptions {
  int zstd_level = 3;
  unsigned threads = 0;  // 0: all cores
  uint32_t block_size = 128 * 1024;
};

/// What commit() wrote.
struct WriteStats {
  uint64_t files = 0, dirs = 0, symlinks = 0, fifos = 0, hardlinks = 0;
  uint64_t data_bytes = 0;   // file bytes streamed in
  uint64_t image_bytes = 0;  // size of the SquashFS file
  uint64_t xattrs_dropped = 0;  // names SquashFS cannot hold (e.g. system.*)
};

class SquashfsWriter {
 public:
  /// Creates "<out_path>.tmp.XXXXXX" and the compressor and worker threads.
  SquashfsWriter(std::string out_path, const WriterOptions& options);
  ~SquashfsWriter();
  SquashfsWriter(const SquashfsWriter&) = delete;
  SquashfsWriter& operator=(const SquashfsWriter&) = delete;

  /// Streams one file body: `fill` pushes the bytes to the sink it is given.
  FileBody* add_file(const std::function<void(const ByteSink&)>& fill);

  /// Serializes `root` (hard links resolved: kHardlink nodes have `link`
  /// set; kWhiteout nodes and unresolved links are left out), writes the
  /// tables and the superblock, fsyncs and renames onto the target.
  WriteStats commit(TreeNode& root);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ferry::image
