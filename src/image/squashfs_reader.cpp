#include "squashfs_reader.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <linux/limits.h>
#include <malloc.h>
#include <sys/sysmacros.h>
#include <unistd.h>


#include <algorithm>
#include <cerrno>
#include <mutex>
#include <utility>

#include "ferry/core/error.hpp"
#include "ferry/core/fd.hpp"
#include "squashfs_blocks.hpp"

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

// How far a read of a cold block looks ahead in the same file: the blocks
// that follow are decompressed by helper threads while the kernel is busy
// with the reply (see Prefetcher). Measured with `import numpy` on 2 vCPUs:
// the big extension modules and libraries are mapped and faulted in at
// scattered offsets, yet 70-90 % of their blocks end up read.
constexpr size_t kAheadBlocks = 8;

// The kernel refuses longer symlinks too (fs/squashfs/inode.c).
constexpr size_t kMaxSymlink = PATH_MAX;
constexpr size_t kMaxXattrValue = 65536;  // XATTR_SIZE_MAX

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
  std::unique_ptr<Prefetcher> helpers;

  Impl() = default;
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;
  ~Impl() {
    helpers.reset();  // joins the threads before anything they use goes
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
  void read_ahead(InodeRef ref, uint64_t end);
  int plan_blocks(sqfs_inode& in, uint64_t pos, uint64_t end, std::vector<Extent>* plan);
  int plan_fragment(const sqfs_inode& in, uint64_t pos, uint64_t end, std::vector<Extent>* plan);
  BlockCache::Ref obtain(const Extent& x);
  void prefetch(const Extent& x);
  bool decompress(const Extent& x, std::unique_ptr<char[]>* out, size_t* out_size);
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
  // One helper per two CPUs: the other half serve requests and run the
  // container. At least one, so that two cold blocks decompress in parallel.
  const unsigned n = std::clamp(std::thread::hardware_concurrency() / 2, 1u, 4u);
  helpers = std::make_unique<Prefetcher>([this](const Extent& x) { prefetch(x); }, n);
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

void SquashfsReader::trim() {
  impl_->blocks->clear();
  impl_->pool->release();
  ::malloc_trim(0);  // glibc keeps freed arena memory otherwise
}

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

namespace {

// The full name of the current xattr entry. Not sqfs_xattr_name(.., true):
// libsquashfuse 0.1.105 orders its prefix table user, security, trusted,
// but on disk the ids are user 0, trusted 1, security 2 (squashfs_fs.h,
// SQUASHFS_XATTR_*; the kernel's fs/squashfs/xattr.c), so it swaps them.
int xattr_name(sqfs_xattr& x, std::string* out) {
  static const char* const kPrefix[] = {"user.", "trusted.", "security."};
  unsigned id = x.type & SQUASHFS_XATTR_PREFIX_MASK;
  if (id > 2) return EIO;
  size_t suffix = x.entry.size;
  out->assign(kPrefix[id]);
  size_t at = out->size();
  out->resize(at + suffix);
  return sqfs_xattr_name(&x, out->data() + at, false) == SQFS_OK ? 0 : EIO;
}

}  // namespace

int SquashfsReader::listxattr(InodeRef ref, std::string* names) {
  std::lock_guard lock(impl_->meta);
  sqfs_inode in;
  if (int e = impl_->load(ref, &in)) return e;
  sqfs_xattr x;
  if (sqfs_xattr_open(&impl_->fs, &in, &x) != SQFS_OK) return EIO;
  while (x.remain > 0) {
    if (sqfs_xattr_read(&x) != SQFS_OK) return EIO;
    std::string name;
    if (int e = xattr_name(x, &name)) return e;
    names->append(name);
    names->push_back('\0');
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
    if (int e = xattr_name(x, &candidate)) return e;
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
  Impl& m = *impl_;
  std::vector<BlockCache::Ref> got(plan.size());
  std::vector<size_t> cold;
  bool go_ahead = false;
  for (size_t i = 0; i < plan.size(); ++i) {
    if (plan[i].pos == kHole) continue;
    if ((got[i] = m.blocks->get(plan[i].pos))) {
      if (got[i]->ahead.load(std::memory_order_relaxed) && got[i]->ahead.exchange(false)) go_ahead = true;
    } else {
      cold.push_back(i);
    }
  }
  // Cold blocks after the first go to the helpers at once; this thread
  // decompresses the first, then takes whatever they have not started.
  for (size_t k = 1; k < cold.size(); ++k) m.helpers->urgent(plan[cold[k]]);
  for (size_t i : cold) {
    if (!(got[i] = m.obtain(plan[i]))) return EIO;
  }
  // A cold read, or the first read of a block decompressed ahead, moves
  // the read-ahead on.
  if (!cold.empty() || go_ahead) m.read_ahead(ref, off + size);
  for (size_t i = 0; i < plan.size(); ++i) {
    const Extent& x = plan[i];
    const char* data = m.zeros.data();
    if (x.pos == kHole) {
      if (x.take > m.zeros.size()) return EIO;
    } else {
      if (size_t{x.skip} + x.take > got[i]->size) return EIO;  // corrupt sizes
      data = got[i]->data.get() + x.skip;
      out->hold.push_back(std::move(got[i]));
    }
    out->iov.push_back({const_cast<char*>(data), x.take});
    out->size += x.take;
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

// Queues for the helpers the kAheadBlocks blocks of REF that follow the
// block holding byte END - 1, the file's tail fragment included. Not the
// fragments after it: mksquashfs fills them in directory order, but for
// `import numpy` prefetching the next 4 cut cold reads by a quarter at the
// price of 130 more decompressions, three in four of them never used.
void SquashfsReader::Impl::read_ahead(InodeRef ref, uint64_t end) {
  std::vector<Extent> ahead;
  {
    std::lock_guard lock(meta);
    sqfs_inode in;
    if (load(ref, &in) != 0 || !S_ISREG(in.base.mode)) return;
    const uint64_t file_size = in.xtra.reg.file_size;
    const uint64_t bs = fs.sb.block_size;
    const uint64_t from = std::min(file_size, (end + bs - 1) / bs * bs);
    const uint64_t reach = std::min(file_size, from + kAheadBlocks * bs);
    if (from >= reach || plan_blocks(in, from, reach, &ahead) != 0) return;
  }
  for (const Extent& x : ahead) {
    if (x.pos != kHole && blocks->absent(x.pos)) helpers->ahead(x);
  }
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

/// A claim on a block in the cache, abandoned unless the block was cached:
/// a claim left behind would make every later reader of it wait forever.
class Claimed {
 public:
  Claimed(BlockCache& cache, uint64_t pos) : cache_(cache), pos_(pos) {}
  ~Claimed() {
    if (!done_) cache_.abandon(pos_);
  }
  Claimed(const Claimed&) = delete;
  Claimed& operator=(const Claimed&) = delete;

  BlockCache::Ref finish(std::unique_ptr<char[]> data, size_t size, bool ahead) {
    BlockCache::Ref block = cache_.finish(pos_, std::move(data), size, ahead);
    done_ = true;
    return block;
  }

 private:
  BlockCache& cache_;
  const uint64_t pos_;
  bool done_ = false;
};

// A block for a reader: from the cache, from the helper that is
// decompressing it, or decompressed here.
BlockCache::Ref SquashfsReader::Impl::obtain(const Extent& x) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    BlockCache::Ref block;
    switch (blocks->claim(x.pos, &block)) {
      case BlockCache::Claim::kHit:
        return block;
      case BlockCache::Claim::kBusy:
        if ((block = blocks->wait(x.pos))) return block;
        continue;  // the helper failed (out of memory?): try here
      case BlockCache::Claim::kMine: {
        Claimed claim(*blocks, x.pos);
        std::unique_ptr<char[]> data;
        size_t size = 0;
        if (!decompress(x, &data, &size)) return nullptr;
        return claim.finish(std::move(data), size, false);
      }
    }
  }
  return nullptr;
}

// A helper's job: the block unless it is cached or claimed by now.
void SquashfsReader::Impl::prefetch(const Extent& x) {
  BlockCache::Ref block;
  if (blocks->claim(x.pos, &block) != BlockCache::Claim::kMine) return;
  Claimed claim(*blocks, x.pos);
  std::unique_ptr<char[]> data;
  size_t size = 0;
  if (decompress(x, &data, &size)) claim.finish(std::move(data), size, true);
}

// Runs without `meta`: it touches only the descriptor, the superblock and
// the decompressor, which keeps no state between calls (decompress.c).
bool SquashfsReader::Impl::decompress(const Extent& x, std::unique_ptr<char[]>* out, size_t* out_size) {
  bool compressed = false;
  uint32_t size = 0;
  sqfs_data_header(x.header, &compressed, &size);
  const size_t bs = fs.sb.block_size;
  if (size == 0 || size > bs) return false;  // writers store a block raw rather than grow it
  const auto at = static_cast<off_t>(x.pos + fs.offset);
  std::unique_ptr<char[]> buf = pool->take();
  *out_size = size;
  if (!compressed) {
    if (!pread_all(fd.get(), buf.get(), size, at)) return false;
  } else {
    thread_local std::vector<char> in;  // each thread reuses its own
    in.resize(size);
    if (!pread_all(fd.get(), in.data(), size, at)) return false;
    *out_size = bs;
    if (fs.sb.compression == ZSTD_COMPRESSION) {
      if (!zstd_decompress(in.data(), size, buf.get(), out_size)) return false;
    } else if (fs.decompressor(in.data(), size, buf.get(), out_size) != SQFS_OK) {
      return false;
    }
  }
  *out = std::move(buf);
  return true;
}

}  // namespace ferry::image
