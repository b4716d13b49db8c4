#include "squashfs_blocks.hpp"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>
#include <zstd.h>

#include <cerrno>

namespace ferry::image {

std::unique_ptr<char[]> BufferPool::take() {
  {
    std::lock_guard lock(mu_);
    if (!free_.empty()) {
      auto buf = std::move(free_.back());
      free_.pop_back();
      return buf;
    }
  }
  return std::make_unique_for_overwrite<char[]>(size_);
}

void BufferPool::give(std::unique_ptr<char[]> buf) noexcept {
  std::lock_guard lock(mu_);
  if (free_.size() < keep_) free_.push_back(std::move(buf));
}

void BufferPool::release() {
  std::vector<std::unique_ptr<char[]>> gone;
  std::lock_guard lock(mu_);
  gone.swap(free_);
}

void BlockCache::clear() {
  std::list<std::pair<uint64_t, Ref>> gone;  // released outside the lock: buffers go back to the pool
  {
    std::lock_guard lock(mu_);
    gone.swap(lru_);
    index_.clear();
  }
}

BlockCache::Ref BlockCache::get(uint64_t pos) {
  std::lock_guard lock(mu_);
  return find(pos);
}

BlockCache::Claim BlockCache::claim(uint64_t pos, Ref* hit) {
  std::lock_guard lock(mu_);
  if ((*hit = find(pos))) return Claim::kHit;
  return busy_.insert(pos).second ? Claim::kMine : Claim::kBusy;
}

bool BlockCache::absent(uint64_t pos) {
  std::lock_guard lock(mu_);
  return !index_.contains(pos) && !busy_.contains(pos);
}

BlockCache::Ref BlockCache::wait(uint64_t pos) {
  std::unique_lock lock(mu_);
  done_.wait(lock, [&] { return !busy_.contains(pos); });
  return find(pos);
}

BlockCache::Ref BlockCache::finish(uint64_t pos, std::unique_ptr<char[]> data, size_t size, bool ahead) {
  BufferPool* pool = &pool_;
  auto* raw = new Block{std::move(data), size};
  raw->ahead.store(ahead, std::memory_order_relaxed);
  Ref block(raw, [pool](const Block* b) {
    pool->give(std::move(const_cast<Block*>(b)->data));
    delete b;
  });
  Ref victim;  // released after the lock
  {
    std::lock_guard lock(mu_);
    busy_.erase(pos);
    if (!index_.contains(pos)) {
      lru_.emplace_front(pos, block);
      index_.emplace(pos, lru_.begin());
      if (lru_.size() > capacity_) {
        victim = std::move(lru_.back().second);
        index_.erase(lru_.back().first);
        lru_.pop_back();
      }
    }
  }
  done_.notify_all();
  return block;
}

void BlockCache::abandon(uint64_t pos) {
  {
    std::lock_guard lock(mu_);
    busy_.erase(pos);
  }
  done_.notify_all();
}

BlockCache::Ref BlockCache::find(uint64_t pos) {
  auto it = index_.find(pos);
  if (it == index_.end()) return nullptr;
  lru_.splice(lru_.begin(), lru_, it->second);
  return it->second->second;
}

Prefetcher::~Prefetcher() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  for (auto& t : threads_) t.join();
}

void Prefetcher::push(const Extent& x, bool urgent) {
  {
    std::lock_guard lock(mu_);
    if (stop_) return;
    if (!urgent && queue_.size() >= kMaxQueued) return;
    if (urgent)
      queue_.push_front(x);
    else
      queue_.push_back(x);
    if (threads_.empty() && !start()) return;
  }
  wake_.notify_one();
}

bool Prefetcher::start() {
  // Helpers take no signals: those are for the runtime's main thread.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  try {
    for (unsigned i = 0; i < count_; ++i) {
      threads_.emplace_back([this] { run(); });
      // Named by the creator, so the name is there once start() returns
      // (ps, and a test that counts helpers), not when the thread first runs.
      pthread_setname_np(threads_.back().native_handle(), "ferry-sqfs-ra");
    }
  } catch (...) {
    // Without helpers every block is decompressed by the reader that needs it.
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (threads_.empty()) {
    stop_ = true;
    queue_.clear();
  }
  return !threads_.empty();
}

void Prefetcher::run() noexcept {
  std::unique_lock lock(mu_);
  for (;;) {
    wake_.wait(lock, [&] { return stop_ || !queue_.empty(); });
    if (stop_) return;
    Extent x = queue_.front();
    queue_.pop_front();
    lock.unlock();
    try {
      work_(x);
    } catch (...) {  // out of memory: the reader will try again itself
    }
    lock.lock();
  }
}

bool pread_all(int fd, char* buf, size_t size, off_t at) {
  while (size > 0) {
    ssize_t n = ::pread(fd, buf, size, at);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    buf += n;
    at += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

namespace {
struct DctxDeleter {
  void operator()(ZSTD_DCtx* d) const noexcept { ZSTD_freeDCtx(d); }
};
}  // namespace

bool zstd_decompress(const char* in, size_t in_size, char* out, size_t* out_size) {
  thread_local std::unique_ptr<ZSTD_DCtx, DctxDeleter> dctx(ZSTD_createDCtx());
  if (!dctx) return false;
  size_t n = ZSTD_decompressDCtx(dctx.get(), out, *out_size, in, in_size);
  if (ZSTD_isError(n)) return false;
  *out_size = n;
  return true;
}

}  // namespace ferry::image
