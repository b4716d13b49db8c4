/// The data-block half of the SquashFS reader: decompressed blocks shared
/// by all FUSE worker threads (BlockCache over a BufferPool), the helper
/// threads that decompress blocks ahead of need (Prefetcher), and the
/// per-thread zstd context. Knows nothing of inodes or FUSE. Internal to
/// src/image (squashfs_reader.cpp uses it).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace ferry::image {

/// Extent::pos of a sparse file's hole: no block on disk.
constexpr uint64_t kHole = UINT64_MAX;

/// One block of a read: SKIP bytes into the block at POS, TAKE bytes.
struct Extent {
  uint64_t pos;     // offset in the image, or kHole
  uint32_t header;  // on-disk size and "stored uncompressed" bit
  uint32_t skip;
  uint32_t take;
};

/// A decompressed data or fragment block.
struct Block {
  std::unique_ptr<char[]> data;
  size_t size = 0;
  // Decompressed ahead of need and not yet read: the first read of it keeps
  // the read-ahead going, as the kernel's PG_readahead mark does.
  mutable std::atomic<bool> ahead{false};
};

/// Block-sized buffers kept for reuse. Fresh memory costs the kernel a zeroed
/// page per 4 KiB on first touch: reading a whole Python tree spent a fifth
/// of the server's time in clear_page() when every block was a new malloc().
class BufferPool {
 public:
  BufferPool(size_t size, size_t keep) : size_(size), keep_(keep) {}
  std::unique_ptr<char[]> take();
  void give(std::unique_ptr<char[]> buf) noexcept;
  /// Frees the kept buffers (an idle server's memory).
  void release();

 private:
  std::mutex mu_;
  const size_t size_;
  const size_t keep_;
  std::vector<std::unique_ptr<char[]>> free_;
};

/// Decompressed blocks keyed by their offset in the image, least recently
/// used evicted first. Its own mutex is held only for the map operations.
/// A block's buffer returns to the pool when the cache and every reply that
/// still points into it have let go of it.
///
/// A block being decompressed is "busy": one thread claims it, and others
/// that need it wait for that one instead of decompressing it again.
class BlockCache {
 public:
  using Ref = std::shared_ptr<const Block>;
  enum class Claim { kHit, kMine, kBusy };

  BlockCache(size_t capacity, BufferPool& pool) : capacity_(capacity), pool_(pool) {}

  Ref get(uint64_t pos);
  /// kHit: *hit is the block. kMine: the caller must finish() or abandon()
  /// POS. kBusy: another thread has claimed it.
  Claim claim(uint64_t pos, Ref* hit);
  /// False when POS is cached or claimed: nothing to do for it.
  bool absent(uint64_t pos);
  /// Waits until POS is no longer claimed; its block, or null if the
  /// claimant failed.
  Ref wait(uint64_t pos);
  /// Caches a claimed block (a filled buffer from the pool) under POS.
  Ref finish(uint64_t pos, std::unique_ptr<char[]> data, size_t size, bool ahead);
  void abandon(uint64_t pos);
  /// Drops every cached block (replies still holding one keep it alive).
  void clear();

 private:
  Ref find(uint64_t pos);  // with mu_ held

  std::mutex mu_;
  std::condition_variable done_;
  const size_t capacity_;
  BufferPool& pool_;
  std::list<std::pair<uint64_t, Ref>> lru_;
  std::unordered_map<uint64_t, std::list<std::pair<uint64_t, Ref>>::iterator> index_;
  std::unordered_set<uint64_t> busy_;
};

/// Helper threads that decompress blocks nobody is waiting for yet. A FUSE
/// request is served by one worker, and the process that faulted waits for
/// it, so without helpers a cold read decompresses its blocks one after the
/// other on one CPU while the others idle. Two kinds of jobs:
///
///  - urgent: the second and later cold blocks of one read (a 128 KiB
///    readahead window usually straddles two blocks); queued first;
///  - ahead: the blocks that follow a cold read in the same file.
///
/// A job only names a block; a helper claims it in the BlockCache when it
/// starts, so a reader that needs a block still queued decompresses it
/// itself, and one that needs a block a helper is working on waits for it.
/// The threads start with the first job (SquashfsReader::open() must leave
/// the process single-threaded: the runtime unshares a user namespace after
/// it) and are joined by the destructor.
class Prefetcher {
 public:
  using Work = std::function<void(const Extent&)>;

  Prefetcher(Work work, unsigned threads) : work_(std::move(work)), count_(threads) {}
  ~Prefetcher();
  Prefetcher(const Prefetcher&) = delete;
  Prefetcher& operator=(const Prefetcher&) = delete;

  void urgent(const Extent& x) { push(x, true); }
  void ahead(const Extent& x) { push(x, false); }

 private:
  // Jobs the helpers may have queued; beyond that speculation is dropped.
  static constexpr size_t kMaxQueued = 64;

  void push(const Extent& x, bool urgent);
  bool start();  // with mu_ held; false leaves the jobs to the readers
  void run() noexcept;

  const Work work_;
  const unsigned count_;
  std::mutex mu_;
  std::condition_variable wake_;
  std::deque<Extent> queue_;
  std::vector<std::thread> threads_;
  bool stop_ = false;
};

/// pread(2) until SIZE bytes are read; false on an error or a short file.
bool pread_all(int fd, char* buf, size_t size, off_t at);

/// zstd with a context per thread (libsquashfuse's ZSTD_decompress() makes a
/// fresh ~100 KiB one per block; reuse saved ~8 % of decompression time).
/// *out_size: capacity in, bytes written out.
bool zstd_decompress(const char* in, size_t in_size, char* out, size_t* out_size);

}  // namespace ferry::image
