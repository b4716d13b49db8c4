/// Reading one image layer: a tar stream, uncompressed, gzip or zstd (told
/// apart by their magic bytes), with PAX headers, GNU long names and xattrs,
/// decompressed by ISA-L (gzip) or libzstd (inflate.hpp) and parsed by
/// libarchive. The reader streams: it holds one entry's header at a time,
/// and the caller reads that entry's body (or not) before asking for the
/// next. Nothing is extracted to disk.
///
/// The caller owns the LayerSource; the reader borrows its descriptor and
/// callbacks for its own lifetime.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace ferry::image {

/// Called with every chunk of bytes as it streams past.
using ByteSink = std::function<void(const void* data, size_t size)>;

/// Where a layer's bytes come from, and who else wants to see them.
struct LayerSource {
  /// Names the layer in messages ("layer sha256:ab12…", a path).
  std::string label;
  /// The file to read; when empty, `fd` is read instead (not closed).
  std::string path;
  int fd = -1;
  /// A window of the file: `length` bytes from `offset` (a member inside an
  /// uncompressed archive, read in place). The default, no window, reads
  /// the file or descriptor sequentially to its end (a pipe works).
  static constexpr uint64_t kToEnd = UINT64_MAX;
  uint64_t offset = 0;
  uint64_t length = kToEnd;
  /// For a file still being written (a download): called before each read
  /// with the bytes read so far; returns once more are there or the file is
  /// complete, and false when it never will be (the read then fails) or
  /// when `stop` becomes true (the reader is being destroyed). It may be
  /// called, like on_compressed, from the reader's decompression thread;
  /// on_uncompressed is called from the thread that constructs the reader
  /// (libarchive reads ahead to open the tar) and calls next(), read_body()
  /// and finish().
  std::function<bool(uint64_t consumed, const std::atomic<bool>& stop)> wait;
  /// Sees the blob as stored (compressed): the hook for its digest.
  ByteSink on_compressed;
  /// Sees the uncompressed tar stream, to its last byte: the hook for the
  /// OCI diff_id. The reader drains the stream at finish() so that this
  /// callback sees everything, the padding after the end-of-archive included.
  ByteSink on_uncompressed;
};

/// The sparse holes one image may hold in all (read_body's `holes_left`):
/// 2 TiB, beyond the largest real case, /var/log/lastlog after useradd of
/// a uid near 2^32 (1.25 TB). Each byte of a hole is fed to the SquashFS
/// writer as a zero (about 10 GB/s here), so this also bounds the time.
inline constexpr uint64_t kSparseHoleLimit = uint64_t{2} << 40;

enum class Compression { kNone, kGzip, kZstd };

/// The compression of a blob that starts with the N bytes at DATA, by its
/// magic number (gzip or zstd); kNone for anything else.
Compression detect_compression(const void* data, size_t n);

enum class EntryType { kFile, kDir, kSymlink, kHardlink, kCharDev, kBlockDev, kFifo };

/// One tar header, as the layer says it (no policy applied yet).
struct LayerEntry {
  std::string path;         // as stored: may start with "./", may be hostile
  EntryType type = EntryType::kFile;
  mode_t mode = 0;          // permission bits only (07777)
  uint32_t uid = 0;
  uint32_t gid = 0;
  int64_t mtime = 0;        // seconds since the epoch
  uint64_t size = 0;        // body bytes (files only)
  std::string link_target;  // symlink target, or hard link target path
  std::vector<std::pair<std::string, std::string>> xattrs;  // name, value
};

class LayerReader {
 public:
  /// Opens the source and detects its compression. Throws ferry::Error
  /// naming the layer (open failure, xz/bzip2 or other unsupported format).
  explicit LayerReader(const LayerSource& source);
  ~LayerReader();
  LayerReader(const LayerReader&) = delete;
  LayerReader& operator=(const LayerReader&) = delete;

  Compression compression() const noexcept;

  /// Reads the next header into *entry; false at the end of the archive.
  /// A body not read is skipped. Throws on a damaged stream.
  bool next(LayerEntry* entry);

  /// Streams the current entry's body to `sink` in chunks. A sparse file's
  /// holes come as zeros and are taken from `holes_left`: a hole larger than
  /// what is left is refused (throws, naming the entry) before any of its
  /// zeros are sent, so that a header declaring exabytes of holes cannot
  /// keep an import busy for years. Returns the number of bytes delivered.
  uint64_t read_body(const ByteSink& sink, uint64_t& holes_left);

  /// Reads the rest of the stream (so on_uncompressed saw all of it) and
  /// checks the compressed stream ended cleanly. Call after next() == false.
  void finish();

  /// Compressed bytes read from the source so far.
  uint64_t bytes_read() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ferry::image
