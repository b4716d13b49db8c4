#include "squashfs_reader.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <linux/limits.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <list>
#include <mutex>
#include <unordered_map>
#include <utility>

#include "ferry/core/error.hpp"
#include "ferry/core/fd.hpp"

// libsquashfuse is plain C without extern "C" guards, and its config.h
// redefines feature macros, so it comes after every system header.
extern "C" {
#undef _POSIX_C_SOURCE  // config.h sets its own; <features.h> has already run
#include <squashfuse.h>
}

namespace ferry::image {
namespace {

// libsquashfuse keeps 8 decompressed metadata blocks (8 KiB each). The inode
// and directory tables of a Python or CUDA image run to megabytes, and one
// lookup touches the parent inode, its listing and the child inode, so 8
// slots thrash. 256 slots (2 MiB) hold the hot part of a large image; the
// library searches them linearly, which stays well below a FUSE round trip.
constexpr size_t kMetaCacheBlocks = 256;

// Decompressed data and fragment blocks shared by all threads. The kernel's
// page cache keeps file pages; this cache serves what it cannot: fragments
// holding the tails of many small files, and blocks that two readahead
// windows straddle. 32 MiB is 256 blocks at mksquashfs's default 128 KiB.
constexpr size_t kDataCacheBytes = size_t{32} << 20;

// The kernel refuses longer symlinks too (fs/squashfs/inode.c).
constexpr size_t kMaxSymlink = PATH_MAX;
constexpr size_t kMaxXattrValue = 65536;  // XATTR_SIZE_MAX
constexpr uint64_t kHole = UINT64_MAX;

/// A decompressed data or fragment block.
struct Block {
  std::unique_ptr<char[]> data;
  size_t size = 0;
};

/// Block-sized buffers kept for reuse. Fresh memory costs the kernel a zeroed
/// page per 4 KiB on first touch: reading a whole Python tree spent a fifth
/// of the server's time in clear_page() when every block was a new malloc().
class BufferPool {
 public:
  BufferPool(size_t size, size_t keep) : size_(size), keep_(keep) {}

  std::unique_ptr<char[]> take() {
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

  void give(std::unique_ptr<char[]> buf) noexcept {
    std::lock_guard lock(mu_);
    if (free_.size() < keep_) free_.push_back(std::move(buf));
  }

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
class BlockCache {
 public:
  using Ref = std::shared_ptr<const Block>;

  BlockCache(size_t capacity, BufferPool& pool) : capacity_(capacity), pool_(pool) {}

  Ref get(uint64_t pos) {
    std::lock_guard lock(mu_);
    auto it = index_.find(pos);
    if (it == index_.end()) return nullptr;
    lru_.splice(lru_.begin(), lru_, it->second);
    return it->second->second;
  }

  /// Wraps a filled buffer from the pool and caches it under POS.
  Ref put(uint64_t pos, std::unique_ptr<char[]> data, size_t size) {
    BufferPool* pool = &pool_;
    Ref block(new Block{std::move(data), size}, [pool](const Block* b) {
      pool->give(std::move(const_cast<Block*>(b)->data));
      delete b;
    });
    Ref victim;  // released after the lock
    std::lock_guard lock(mu_);
    if (index_.contains(pos)) return block;  // another thread read it meanwhile
    lru_.emplace_front(pos, block);
    index_.emplace(pos, lru_.begin());
    if (lru_.size() > capacity_) {
      victim = std::move(lru_.back().second);
      index_.erase(lru_.back().first);
      lru_.pop_back();
    }
    return block;
  }

 private:
  std::mutex mu_;
  const size_t capacity_;
  BufferPool& pool_;
  std::list<std::pair<uint64_t, Ref>> lru_;
  std::unordered_map<uint64_t, std::list<std::pair<uint64_t, Ref>>::iterator> index_;
};

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

/// One block of a read: SKIP bytes into the block at POS, TAKE bytes.
struct Extent {
  uint64_t pos;     // offset in the image, or kHole
  uint32_t header;  // on-disk size and "stored uncompressed" bit
  uint32_t skip;
  uint32_t take;
};

std::string describe(sqfs_err err, const sqfs& fs) {
  switch (err) {
    case SQFS_BADFORMAT:
      return "not a SquashFS file (no \"hsqs\" superblock)";
    case SQFS_BADVERSION:
      return fmt::format("SquashFS version {}.{} is not supported (4.0 is)", fs.sb.s_major, fs.sb.s_minor);
    case SQFS_BADCOMP: {
      const char* name = sqfs_compression_name(fs.sb.compression);
      return fmt::format("its compression ({}) is not supported by this libsquashfuse",
                         name != nullptr ? name : fmt::format("id {}", fs.sb.compression));
    }
    default:
      return "cannot read its tables (truncated or corrupt)";
  }
}

}  // namespace

struct SquashfsReader::Impl {
  Fd fd;
  sqfs fs{};
  bool fs_ready = false;
  // Guards every libsquashfuse call that may touch fs.md_cache or
  // fs.blockidx: inodes, directories, id/fragment tables, block lists, xattrs.
  std::mutex meta;
  std::unique_ptr<BufferPool> pool;  // declared first: outlives the cache
  std::unique_ptr<BlockCache> blocks;
  std::vector<char> zeros;  // one block of a sparse file's hole

  Impl() = default;
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;
  ~Impl() {
    if (!fs_ready) return;
    // sqfs_destroy() forgets the xattr id table that sqfs_init() built
    // (libsquashfuse 0.1.105); a fixed version then frees a null pointer.
    sqfs_table_destroy(&fs.xattr_table);
    fs.xattr_table.blocks = nullptr;
    sqfs_destroy(&fs);
  }

  void init(const std::string& path);
  void grow_meta_cache(const std::string& path);
  int load(InodeRef ref, sqfs_inode* inode);
  int fill_stat(const sqfs_inode& inode, struct stat* st);
  int list(sqfs_inode& dir, off_t offset, bool attrs, const std::function<bool(const DirEntry&)>& emit);
  int plan_read(InodeRef ref, uint64_t off, size_t size, std::vector<Extent>* plan);
  int plan_blocks(sqfs_inode& in, uint64_t pos, uint64_t end, std::vector<Extent>* plan);
  int plan_fragment(const sqfs_inode& in, uint64_t pos, uint64_t end, std::vector<Extent>* plan);
  int fetch(const Extent& x, ReadResult* out);
  BlockCache::Ref read_block(const Extent& x);
};

void SquashfsReader::Impl::init(const std::string& path) {
  sqfs_err err = sqfs_init(&fs, fd.get(), 0);
  if (err != SQFS_OK) throw Error(fmt::format("SquashFS image {}: {}", path, describe(err, fs)));
  fs_ready = true;
  const uint32_t bs = fs.sb.block_size;
  if (bs < 4096 || bs > (1u << 20) || (bs & (bs - 1)) != 0)
    throw Error(fmt::format("SquashFS image {}: bad block size {}", path, bs));
  grow_meta_cache(path);
  sqfs_inode root;
  if (load(sqfs_inode_root(&fs), &root) != 0 || !S_ISDIR(root.base.mode))
    throw Error(fmt::format("SquashFS image {}: cannot read its root directory", path));
  const size_t count = std::max<size_t>(16, kDataCacheBytes / bs);
  pool = std::make_unique<BufferPool>(bs, count / 4);
  blocks = std::make_unique<BlockCache>(count, *pool);
  zeros.assign(bs, 0);
}

void SquashfsReader::Impl::grow_meta_cache(const std::string& path) {
  sqfs_cache_destroy(&fs.md_cache);
  fs.md_cache = sqfs_cache{};  // sqfs_destroy() must not free it twice
  if (sqfs_block_cache_init(&fs.md_cache, kMetaCacheBlocks) != SQFS_OK)
    throw Error(fmt::format("SquashFS image {}: out of memory for its metadata cache", path));
}

int SquashfsReader::Impl::load(InodeRef ref, sqfs_inode* inode) {
  return sqfs_inode_get(&fs, inode, ref) == SQFS_OK ? 0 : EIO;
}

int SquashfsReader::Impl::fill_stat(const sqfs_inode& in, struct stat* st) {
  *st = {};
  st->st_ino = in.base.inode_number;
  st->st_mode = in.base.mode;
  st->st_nlink = static_cast<nlink_t>(in.nlink);
  st->st_mtim.tv_sec = st->st_ctim.tv_sec = st->st_atim.tv_sec = in.base.mtime;
  st->st_blksize = fs.sb.block_size;
  if (S_ISREG(in.base.mode)) {
    st->st_size = static_cast<off_t>(in.xtra.reg.file_size);
    st->st_blocks = (st->st_size + 511) / 512;
  } else if (S_ISLNK(in.base.mode)) {
    st->st_size = static_cast<off_t>(in.xtra.symlink_size);
  } else if (S_ISDIR(in.base.mode)) {
    st->st_size = in.xtra.dir.dir_size;
  } else if (S_ISCHR(in.base.mode) || S_ISBLK(in.base.mode)) {
    st->st_rdev = makedev(in.xtra.dev.major, in.xtra.dev.minor);
  }
  // uid and guid index the id table; a hostile index would read past it.
  sqfs_id_t uid = 0, gid = 0;
  if (in.base.uid >= fs.sb.no_ids || in.base.guid >= fs.sb.no_ids) return EIO;
  if (sqfs_id_get(&fs, in.base.uid, &uid) != SQFS_OK) return EIO;
  if (sqfs_id_get(&fs, in.base.guid, &gid) != SQFS_OK) return EIO;
  st->st_uid = uid;
  st->st_gid = gid;
  return 0;
}

SquashfsReader::SquashfsReader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SquashfsReader::~SquashfsReader() = default;

std::unique_ptr<SquashfsReader> SquashfsReader::open(const std::string& path) {
  auto impl = std::make_unique<Impl>();
  impl->fd = open_or_throw(path, O_RDONLY | O_CLOEXEC);
  impl->init(path);
  return std::unique_ptr<SquashfsReader>(new SquashfsReader(std::move(impl)));
}

InodeRef SquashfsReader::root() const noexcept { return impl_->fs.sb.root_inode; }

bool SquashfsReader::has_xattrs() const noexcept {
  return impl_->fs.sb.xattr_id_table_start != static_cast<uint64_t>(SQUASHFS_INVALID_BLK);
}

struct statvfs SquashfsReader::statfs() const noexcept {
  const auto& sb = impl_->fs.sb;
  struct statvfs sv {};
  sv.f_bsize = sv.f_frsize = sb.block_size;
  sv.f_blocks = (sb.bytes_used + sb.block_size - 1) / sb.block_size;
  sv.f_files = sb.inodes;
  sv.f_namemax = SQUASHFS_NAME_LEN;
  sv.f_flag = ST_RDONLY;
  return sv;
}

int SquashfsReader::stat(InodeRef ref, struct stat* st) {
  std::lock_guard lock(impl_->meta);
  sqfs_inode in;
  if (int e = impl_->load(ref, &in)) return e;
  return impl_->fill_stat(in, st);
}

int SquashfsReader::lookup(InodeRef dir, std::string_view name, InodeRef* child, struct stat* st) {
  if (name.size() > SQUASHFS_NAME_LEN) return ENAMETOOLONG;
  std::lock_guard lock(impl_->meta);
  sqfs_inode parent;
  if (int e = impl_->load(dir, &parent)) return e;
  if (!S_ISDIR(parent.base.mode)) return ENOTDIR;
  sqfs_name buf;
  sqfs_dir_entry entry;
  sqfs_dentry_init(&entry, buf);
  bool found = false;
  if (sqfs_dir_lookup(&impl_->fs, &parent, name.data(), name.size(), &entry, &found) != SQFS_OK) return EIO;
  if (!found) return ENOENT;
  *child = sqfs_dentry_inode(&entry);
  sqfs_inode in;
  if (int e = impl_->load(*child, &in)) return e;
  return impl_->fill_stat(in, st);
}

int SquashfsReader::readlink(InodeRef ref, std::string* target) {
  std::lock_guard lock(impl_->meta);
  sqfs_inode in;
  if (int e = impl_->load(ref, &in)) return e;
  if (!S_ISLNK(in.base.mode)) return EINVAL;
  if (in.xtra.symlink_size > kMaxSymlink) return EIO;
  target->assign(in.xtra.symlink_size + 1, '\0');
  size_t size = target->size();
  if (sqfs_readlink(&impl_->fs, &in, target->data(), &size) != SQFS_OK) return EIO;
  target->resize(in.xtra.symlink_size);
  return 0;
}

int SquashfsReader::readdir(InodeRef dir, off_t cookie, bool attrs,
                            const std::function<bool(const DirEntry&)>& emit) {
  std::lock_guard lock(impl_->meta);
  sqfs_inode in;
  if (int e = impl_->load(dir, &in)) return e;
  if (!S_ISDIR(in.base.mode)) return ENOTDIR;
  // The directory table holds neither "." nor ".."; like the kernel's
  // squashfs_readdir() (fs/squashfs/dir.c) we list them first, at cookies
  // 1 and 2, and shift the table's own offsets by 2.
  if (cookie < 1 && !emit({".", in.base.inode_number, S_IFDIR, 1})) return 0;
  if (cookie < 2 && !emit({"..", in.xtra.dir.parent_inode, S_IFDIR, 2})) return 0;
  return impl_->list(in, std::max<off_t>(cookie - 2, 0), attrs, emit);
}

int SquashfsReader::Impl::list(sqfs_inode& dir, off_t offset, bool attrs,
                               const std::function<bool(const DirEntry&)>& emit) {
  sqfs_dir d;
  // A cookie past the last entry does not land on one: that is the end.
  if (sqfs_dir_open(&fs, &dir, &d, offset) != SQFS_OK) return offset == 0 ? EIO : 0;
  sqfs_name name;
  sqfs_dir_entry entry;
  sqfs_dentry_init(&entry, name);
  sqfs_err err = SQFS_OK;
  struct stat st {};
  while (sqfs_dir_next(&fs, &d, &entry, &err)) {
    DirEntry e{sqfs_dentry_name(&entry), sqfs_dentry_inode_num(&entry), sqfs_dentry_mode(&entry) & S_IFMT,
               2 + sqfs_dentry_next_offset(&entry)};
    if (attrs) {
      sqfs_inode in;
      e.ref = sqfs_dentry_inode(&entry);
      if (int rc = load(e.ref, &in); rc != 0 || (rc = fill_stat(in, &st)) != 0) return rc;
      e.st = &st;
    }
    if (!emit(e)) return 0;
  }
  return err == SQFS_OK ? 0 : EIO;
}

int SquashfsReader::listxattr(InodeRef ref, std::string* names) {
  std::lock_guard lock(impl_->meta);
  sqfs_inode in;
  if (int e = impl_->load(ref, &in)) return e;
  sqfs_xattr x;
  if (sqfs_xattr_open(&impl_->fs, &in, &x) != SQFS_OK) return EIO;
  while (x.remain > 0) {
    if (sqfs_xattr_read(&x) != SQFS_OK) return EIO;
    const size_t n = sqfs_xattr_name_size(&x);
    const size_t at = names->size();
    names->resize(at + n + 1);
    if (sqfs_xattr_name(&x, names->data() + at, true) != SQFS_OK) return EIO;
    (*names)[at + n] = '\0';
  }
  return 0;
}

// Not sqfs_xattr_lookup(): in libsquashfuse 0.1.105 it matches "user.a"
// against "user.ab" (it compares only strlen(name) bytes of each entry).
int SquashfsReader::getxattr(InodeRef ref, std::string_view name, std::string* value) {
  std::lock_guard lock(impl_->meta);
  sqfs_inode in;
  if (int e = impl_->load(ref, &in)) return e;
  sqfs_xattr x;
  if (sqfs_xattr_open(&impl_->fs, &in, &x) != SQFS_OK) return EIO;
  std::string candidate;
  while (x.remain > 0) {
    if (sqfs_xattr_read(&x) != SQFS_OK) return EIO;
    if (sqfs_xattr_name_size(&x) != name.size()) continue;
    candidate.assign(name.size(), '\0');
    if (sqfs_xattr_name(&x, candidate.data(), true) != SQFS_OK) return EIO;
    if (candidate != name) continue;
    size_t size = 0;
    if (sqfs_xattr_value_size(&x, &size) != SQFS_OK || size > kMaxXattrValue) return EIO;
    value->assign(size, '\0');
    return sqfs_xattr_value(&x, value->data()) == SQFS_OK ? 0 : EIO;
  }
  return ENODATA;
}

int SquashfsReader::read(InodeRef ref, uint64_t off, size_t size, ReadResult* out) {
  std::vector<Extent> plan;
  {
    std::lock_guard lock(impl_->meta);
    if (int e = impl_->plan_read(ref, off, size, &plan)) return e;
  }
  // Reading and decompressing, the slow part, runs outside the lock.
  for (const Extent& x : plan) {
    if (int e = impl_->fetch(x, out)) return e;
  }
  return 0;
}

int SquashfsReader::Impl::plan_read(InodeRef ref, uint64_t off, size_t size, std::vector<Extent>* plan) {
  sqfs_inode in;
  if (int e = load(ref, &in)) return e;
  if (!S_ISREG(in.base.mode)) return EINVAL;
  const uint64_t file_size = in.xtra.reg.file_size;
  if (off >= file_size || size == 0) return 0;
  return plan_blocks(in, off, std::min<uint64_t>(file_size, off + size), plan);
}

// A file is a list of full blocks (each compressed alone, or a hole) and
// maybe a tail stored inside a shared fragment block.
int SquashfsReader::Impl::plan_blocks(sqfs_inode& in, uint64_t pos, uint64_t end, std::vector<Extent>* plan) {
  const uint64_t bs = fs.sb.block_size;
  sqfs_blocklist bl;
  if (sqfs_blockidx_blocklist(&fs, &in, &bl, static_cast<sqfs_off_t>(pos)) != SQFS_OK) return EIO;
  while (pos < end) {
    if (bl.remain == 0) return plan_fragment(in, pos, end, plan);
    if (sqfs_blocklist_next(&bl) != SQFS_OK) return EIO;
    if (bl.pos + bs <= pos) continue;
    if (bl.pos > pos) return EIO;
    const uint64_t stop = std::min(end, bl.pos + bs);
    plan->push_back({bl.input_size == 0 ? kHole : bl.block, bl.header, static_cast<uint32_t>(pos - bl.pos),
                     static_cast<uint32_t>(stop - pos)});
    pos = stop;
  }
  return 0;
}

int SquashfsReader::Impl::plan_fragment(const sqfs_inode& in, uint64_t pos, uint64_t end,
                                        std::vector<Extent>* plan) {
  const uint32_t idx = in.xtra.reg.frag_idx;
  if (idx == SQUASHFS_INVALID_FRAG || idx >= fs.sb.fragments) return EIO;
  squashfs_fragment_entry frag;
  if (sqfs_frag_entry(&fs, &frag, idx) != SQFS_OK) return EIO;
  const uint64_t bs = fs.sb.block_size;
  const uint64_t tail_start = in.xtra.reg.file_size / bs * bs;
  if (pos < tail_start) return EIO;
  plan->push_back({frag.start_block, frag.size,
                   static_cast<uint32_t>(in.xtra.reg.frag_off + (pos - tail_start)),
                   static_cast<uint32_t>(end - pos)});
  return 0;
}

int SquashfsReader::Impl::fetch(const Extent& x, ReadResult* out) {
  const char* data = zeros.data();
  if (x.pos == kHole) {
    if (x.take > zeros.size()) return EIO;
  } else {
    BlockCache::Ref block = blocks->get(x.pos);
    if (!block && !(block = read_block(x))) return EIO;
    if (size_t{x.skip} + x.take > block->size) return EIO;  // corrupt sizes
    data = block->data.get() + x.skip;
    out->hold.push_back(std::move(block));
  }
  out->iov.push_back({const_cast<char*>(data), x.take});
  out->size += x.take;
  return 0;
}

// Runs without `meta`: it touches only the descriptor, the superblock and
// the decompressor, which keeps no state between calls (decompress.c).
BlockCache::Ref SquashfsReader::Impl::read_block(const Extent& x) {
  bool compressed = false;
  uint32_t size = 0;
  sqfs_data_header(x.header, &compressed, &size);
  const size_t bs = fs.sb.block_size;
  if (size == 0 || size > bs) return nullptr;  // writers store a block raw rather than grow it
  const auto at = static_cast<off_t>(x.pos + fs.offset);
  std::unique_ptr<char[]> out = pool->take();
  size_t out_size = size;
  if (!compressed) {
    if (!pread_all(fd.get(), out.get(), size, at)) return nullptr;
  } else {
    thread_local std::vector<char> in;  // each worker reuses its own
    in.resize(size);
    if (!pread_all(fd.get(), in.data(), size, at)) return nullptr;
    out_size = bs;
    if (fs.decompressor(in.data(), size, out.get(), &out_size) != SQFS_OK) return nullptr;
  }
  return blocks->put(x.pos, std::move(out), out_size);
}

}  // namespace ferry::image
