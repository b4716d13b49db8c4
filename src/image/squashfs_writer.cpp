// SquashFS output through libsquashfs 1.2 (include/ferry/image/squashfs_writer.hpp).
//
// libsquashfs gives the pieces; the order in which they are used is the
// SquashFS layout (squashfs-tools-ng's doc/format.adoc):
//   superblock | compressor options | data + fragment blocks | inode table |
//   directory table | fragment table | id table | xattr tables
// File data is written while the layers stream by (add_file); everything
// after it needs the final tree and is written by commit(). The sequence in
// commit() follows squashfs-tools-ng's own writer (lib/common/writer/*.c).
#include "ferry/image/squashfs_writer.hpp"

#include <fcntl.h>
#include <sqfs/block.h>
#include <sqfs/block_processor.h>
#include <sqfs/block_writer.h>
#include <sqfs/compressor.h>
#include <sqfs/dir_writer.h>
#include <sqfs/error.h>
#include <sqfs/frag_table.h>
#include <sqfs/id_table.h>
#include <sqfs/inode.h>
#include <sqfs/io.h>
#include <sqfs/meta_writer.h>
#include <sqfs/super.h>
#include <sqfs/xattr_writer.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <system_error>
#include <thread>
#include <type_traits>

#include "ferry/core/error.hpp"
#include "ferry/core/fd.hpp"
#include "ferry/core/log.hpp"

namespace ferry::image {

struct FileBody {
  sqfs_inode_generic_t* inode = nullptr;  // updated by the block processor until finish
};

namespace {

// A sqfs_file_t over our own descriptor, so that a failed write keeps its
// errno ("No space left on device") for the message.
struct FdFile {
  explicit FdFile(int f) : fd(f), writeback(f) {}
  sqfs_file_t base{};  // first: libsquashfs casts sqfs_file_t* to this
  int fd;
  uint64_t size = 0;
  int err = 0;
  Writeback writeback;  // of fd
};
static_assert(std::is_standard_layout_v<FdFile>, "libsquashfs's casts need base at offset 0");

int fd_read_at(sqfs_file_t* f, sqfs_u64 off, void* buf, size_t size) {
  auto* self = reinterpret_cast<FdFile*>(f);
  auto* p = static_cast<char*>(buf);
  while (size > 0) {
    ssize_t n = pread(self->fd, p, size, static_cast<off_t>(off));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return self->err = errno, SQFS_ERROR_IO;
    if (n == 0) return SQFS_ERROR_OUT_OF_BOUNDS;
    p += n, off += static_cast<sqfs_u64>(n), size -= static_cast<size_t>(n);
  }
  return 0;
}

int fd_write_at(sqfs_file_t* f, sqfs_u64 off, const void* buf, size_t size) {
  auto* self = reinterpret_cast<FdFile*>(f);
  auto* p = static_cast<const char*>(buf);
  uint64_t end = off + size;
  while (size > 0) {
    ssize_t n = pwrite(self->fd, p, size, static_cast<off_t>(off));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return self->err = errno, SQFS_ERROR_IO;
    p += n, off += static_cast<sqfs_u64>(n), size -= static_cast<size_t>(n);
  }
  self->size = std::max(self->size, end);
  self->writeback.wrote_to(end);
  return 0;
}

sqfs_u64 fd_get_size(const sqfs_file_t* f) { return reinterpret_cast<const FdFile*>(f)->size; }

int fd_truncate(sqfs_file_t* f, sqfs_u64 size) {
  auto* self = reinterpret_cast<FdFile*>(f);
  if (ftruncate(self->fd, static_cast<off_t>(size)) != 0) return self->err = errno, SQFS_ERROR_IO;
  self->size = size;
  return 0;
}

void fd_destroy(sqfs_object_t* o) { delete reinterpret_cast<FdFile*>(o); }
sqfs_object_t* fd_copy(const sqfs_object_t*) { return nullptr; }

// The block processor's compression workers, a little behind the thread
// that feeds them. The feeding chain (read, digest, inflate, digest, tar,
// append) is serial; the workers are parallel and, on a machine with few
// cores, outnumber it: at equal priority they took the chain's CPU and the
// cores idled when it fell behind. The workers run 5 nice steps below the
// caller (they inherit it from the short-lived thread that creates them; an
// unprivileged process may raise its own threads' nice, never lower it),
// with 40 blocks in flight per worker (5 MiB each, against head-of-line
// waits for the oldest block): bench/convert's import 1.61 -> 1.46 s
// (median of 6 alternating runs, 2 cores), peak RSS 19 -> 27 MB.
// squashfs-tools-ng's tools use 10 blocks and the caller's priority.
constexpr int kWorkerNice = 5;
constexpr unsigned kBacklogPerWorker = 40;

sqfs_block_processor_t* create_block_processor(size_t block_size, sqfs_compressor_t* cmp, unsigned workers,
                                               sqfs_block_writer_t* wr, sqfs_frag_table_t* frags) {
  sqfs_block_processor_t* proc = nullptr;
  auto make = [&] { proc = sqfs_block_processor_create(block_size, cmp, workers, kBacklogPerWorker * workers, wr, frags); };
  try {
    std::thread maker([&] {
      // Relative to ours (a `nice -n 10 ferry import` keeps its workers at
      // 15, not 5); best effort.
      auto self = static_cast<id_t>(gettid());
      errno = 0;
      int now = getpriority(PRIO_PROCESS, self);
      if (errno == 0) (void)setpriority(PRIO_PROCESS, self, std::min(now + kWorkerNice, 19));
      make();
    });
    maker.join();
  } catch (const std::system_error&) {  // no thread to spare: workers at our own priority
    make();
  }
  return proc;
}

const char* sqfs_error_name(int e) {
  switch (e) {
    case SQFS_ERROR_ALLOC: return "out of memory";
    case SQFS_ERROR_IO: return "input/output error";
    case SQFS_ERROR_COMPRESSOR: return "compressor failed";
    case SQFS_ERROR_INTERNAL: return "internal error";
    case SQFS_ERROR_OVERFLOW: return "numeric overflow (too many entries or ids)";
    case SQFS_ERROR_OUT_OF_BOUNDS: return "out of bounds";
    case SQFS_ERROR_UNSUPPORTED: return "unsupported";
    case SQFS_ERROR_ARG_INVALID: return "invalid argument";
    case SQFS_ERROR_SEQUENCE: return "calls out of sequence";
    default: return "error";
  }
}

template <typename T>
struct SqfsDeleter {
  void operator()(T* p) const noexcept { sqfs_destroy(p); }
};
template <typename T>
using SqfsPtr = std::unique_ptr<T, SqfsDeleter<T>>;

uint16_t type_bits(TreeNode::Kind k) {
  switch (k) {
    case TreeNode::Kind::kDir: return SQFS_INODE_MODE_DIR;
    case TreeNode::Kind::kFile: return SQFS_INODE_MODE_REG;
    case TreeNode::Kind::kSymlink: return SQFS_INODE_MODE_LNK;
    case TreeNode::Kind::kFifo: return SQFS_INODE_MODE_FIFO;
    default: return 0;
  }
}

// Whether a child is part of the image (whiteouts and dangling links are not).
bool emitted(const TreeNode& n) {
  if (n.kind == TreeNode::Kind::kWhiteout) return false;
  if (n.kind == TreeNode::Kind::kHardlink) return n.link != nullptr;
  return true;
}

}  // namespace

struct SquashfsWriter::Impl {
  std::string out_path;
  std::string tmp_path;
  Fd fd;
  bool committed = false;
  WriterOptions opt;
  sqfs_super_t super{};
  FdFile* file = nullptr;  // owned by file_obj
  SqfsPtr<sqfs_file_t> file_obj;
  SqfsPtr<sqfs_compressor_t> cmp;
  SqfsPtr<sqfs_block_writer_t> blkwr;
  SqfsPtr<sqfs_frag_table_t> fragtbl;
  SqfsPtr<sqfs_block_processor_t> proc;
  SqfsPtr<sqfs_id_table_t> idtbl;
  SqfsPtr<sqfs_xattr_writer_t> xwr;
  SqfsPtr<sqfs_meta_writer_t> im;
  SqfsPtr<sqfs_meta_writer_t> dm;
  SqfsPtr<sqfs_dir_writer_t> dirwr;
  std::deque<FileBody> bodies;  // stable addresses: the processor writes through them
  uint64_t data_bytes = 0;

  ~Impl() {
    proc.reset();  // joins the workers before the inodes they update go away
    for (auto& b : bodies) sqfs_free(b.inode);
    if (!committed && !tmp_path.empty()) ::unlink(tmp_path.c_str());
  }

  void check(int ret, const char* what) const {
    if (ret == 0) return;
    if (ret == SQFS_ERROR_IO && file && file->err != 0) throw Error(file->err, "write", tmp_path);
    throw Error(std::string(what) + " " + tmp_path + ": " + sqfs_error_name(ret));
  }
  template <typename T>
  T* need(T* p, const char* what) const {
    if (!p) throw Error(ENOMEM, what, tmp_path);
    return p;
  }

  void open_output();
  void create_pipeline();
  void number(TreeNode& dir, std::vector<std::pair<TreeNode*, TreeNode*>>& order, WriteStats& st);
  sqfs_inode_generic_t* make_inode(TreeNode& n, TreeNode* parent, WriteStats& st);
  void write_inode(TreeNode& n, TreeNode* parent, WriteStats& st);
  void publish();
};

void SquashfsWriter::Impl::open_output() {
  tmp_path = out_path + ".tmp.XXXXXX";
  int raw = mkostemp(tmp_path.data(), O_CLOEXEC);
  if (raw < 0) {
    int e = errno;
    tmp_path.clear();
    throw Error(e, "create", out_path + ".tmp.*");
  }
  fd.reset(raw);
  if (fchmod(raw, 0644) != 0) throw_errno("chmod", tmp_path);
  file = new FdFile(raw);
  file->base.base.destroy = fd_destroy;
  file->base.base.copy = fd_copy;
  file->base.read_at = fd_read_at;
  file->base.write_at = fd_write_at;
  file->base.get_size = fd_get_size;
  file->base.truncate = fd_truncate;
  file_obj.reset(&file->base);
}

void SquashfsWriter::Impl::create_pipeline() {
  sqfs_compressor_config_t cfg;
  check(sqfs_compressor_config_init(&cfg, SQFS_COMP_ZSTD, opt.block_size, 0), "configure zstd for");
  cfg.level = static_cast<sqfs_u32>(opt.zstd_level);
  sqfs_compressor_t* c = nullptr;
  check(sqfs_compressor_create(&cfg, &c), "create zstd compressor for");
  cmp.reset(c);
  check(sqfs_super_init(&super, opt.block_size, 0, SQFS_COMP_ZSTD), "initialize superblock of");
  check(sqfs_super_write(&super, file_obj.get()), "write superblock of");
  int r = cmp->write_options(cmp.get(), file_obj.get());
  if (r < 0) check(r, "write compressor options to");
  if (r > 0) super.flags |= SQFS_FLAG_COMPRESSOR_OPTIONS;
  blkwr.reset(need(sqfs_block_writer_create(file_obj.get(), SQFS_DEVBLK_SIZE, 0), "create block writer for"));
  fragtbl.reset(need(sqfs_frag_table_create(0), "create fragment table for"));
  unsigned workers = opt.threads ? opt.threads : std::max(1u, std::thread::hardware_concurrency());
  proc.reset(need(create_block_processor(opt.block_size, cmp.get(), workers, blkwr.get(), fragtbl.get()),
                  "create block processor for"));
  idtbl.reset(need(sqfs_id_table_create(0), "create id table for"));
  xwr.reset(need(sqfs_xattr_writer_create(0), "create xattr writer for"));
  im.reset(need(sqfs_meta_writer_create(file_obj.get(), cmp.get(), 0), "create inode writer for"));
  dm.reset(need(sqfs_meta_writer_create(file_obj.get(), cmp.get(), SQFS_META_WRITER_KEEP_IN_MEMORY),
                "create directory writer for"));
  dirwr.reset(need(sqfs_dir_writer_create(dm.get(), 0), "create directory writer for"));
}

SquashfsWriter::SquashfsWriter(std::string out_path, const WriterOptions& options)
    : impl_(std::make_unique<Impl>()) {
  impl_->out_path = std::move(out_path);
  impl_->opt = options;
  if (options.zstd_level < 1 || options.zstd_level > 22)
    throw Error("zstd level " + std::to_string(options.zstd_level) + " is out of range (1-22)");
  impl_->open_output();
  impl_->create_pipeline();
}

SquashfsWriter::~SquashfsWriter() = default;

FileBody* SquashfsWriter::add_file(const std::function<void(const ByteSink&)>& fill) {
  Impl& w = *impl_;
  FileBody& b = w.bodies.emplace_back();
  w.check(sqfs_block_processor_begin_file(w.proc.get(), &b.inode, nullptr, 0), "write file data to");
  fill([&w](const void* data, size_t size) {
    w.check(sqfs_block_processor_append(w.proc.get(), data, size), "write file data to");
    w.data_bytes += size;
  });
  w.check(sqfs_block_processor_end_file(w.proc.get()), "write file data to");
  return &b;
}

// Inode numbers, in squashfs-tools-ng's order (lib/fstree/post_process.c):
// depth first, a directory's subdirectories before its own entries, so that
// every entry of a directory, and the directory itself last, are numbered
// after what they point to. A hard link's target is numbered (and later
// written) before the directory holding the link, wherever it lives.
void SquashfsWriter::Impl::number(TreeNode& dir, std::vector<std::pair<TreeNode*, TreeNode*>>& order,
                                  WriteStats& st) {
  dir.nlink = 2;
  for (auto& [name, child] : dir.children)
    if (child->kind == TreeNode::Kind::kDir) {
      number(*child, order, st);
      dir.nlink++;
    }
  auto assign = [&](TreeNode& n) {
    if (n.inode_num != 0) return;
    n.inode_num = static_cast<uint32_t>(order.size() + 1);
    order.emplace_back(&n, &dir);
  };
  for (auto& [name, child] : dir.children) {
    if (!emitted(*child)) continue;
    if (child->kind == TreeNode::Kind::kHardlink) {
      assign(*child->link);
      child->link->nlink++;
      st.hardlinks++;
    } else {
      assign(*child);
      if (child->kind != TreeNode::Kind::kDir) child->nlink++;
    }
  }
}

sqfs_inode_generic_t* SquashfsWriter::Impl::make_inode(TreeNode& n, TreeNode* parent, WriteStats& st) {
  sqfs_inode_generic_t* inode = nullptr;
  switch (n.kind) {
    case TreeNode::Kind::kDir: {
      check(sqfs_dir_writer_begin(dirwr.get(), 0), "write directory to");
      for (auto& [name, child] : n.children) {
        if (!emitted(*child)) continue;
        TreeNode& t = child->kind == TreeNode::Kind::kHardlink ? *child->link : *child;
        check(sqfs_dir_writer_add_entry(dirwr.get(), name.c_str(), t.inode_num, t.inode_ref,
                                        static_cast<sqfs_u16>(type_bits(t.kind) | t.mode)),
              "write directory to");
      }
      check(sqfs_dir_writer_end(dirwr.get()), "write directory to");
      inode = need(sqfs_dir_writer_create_inode(dirwr.get(), 0, 0xFFFFFFFF, parent ? parent->inode_num : 0),
                   "create directory inode in");
      if (inode->base.type == SQFS_INODE_DIR)
        inode->data.dir.nlink = n.nlink;
      else
        inode->data.dir_ext.nlink = n.nlink;
      st.dirs++;
      break;
    }
    case TreeNode::Kind::kFile:
      inode = std::exchange(n.body->inode, nullptr);
      if (n.nlink > 1) check(sqfs_inode_make_extended(inode), "write inode to");
      if (inode->base.type == SQFS_INODE_EXT_FILE) inode->data.file_ext.nlink = n.nlink;
      st.files++;
      break;
    case TreeNode::Kind::kSymlink:
      inode = static_cast<sqfs_inode_generic_t*>(calloc(1, sizeof(*inode) + n.target.size()));
      need(inode, "allocate inode in");
      inode->base.type = SQFS_INODE_SLINK;
      inode->data.slink.nlink = n.nlink;
      inode->data.slink.target_size = static_cast<sqfs_u32>(n.target.size());
      inode->payload_bytes_available = inode->payload_bytes_used = static_cast<sqfs_u32>(n.target.size());
      memcpy(inode->extra, n.target.data(), n.target.size());
      st.symlinks++;
      break;
    case TreeNode::Kind::kFifo:
      inode = static_cast<sqfs_inode_generic_t*>(need(calloc(1, sizeof(*inode)), "allocate inode in"));
      inode->base.type = SQFS_INODE_FIFO;
      inode->data.ipc.nlink = n.nlink;
      st.fifos++;
      break;
    default:
      throw Error("internal: unexpected node kind while writing " + tmp_path);
  }
  return inode;
}

void SquashfsWriter::Impl::write_inode(TreeNode& n, TreeNode* parent, WriteStats& st) {
  std::unique_ptr<sqfs_inode_generic_t, decltype(&sqfs_free)> inode(make_inode(n, parent, st), &sqfs_free);
  inode->base.mode = static_cast<sqfs_u16>(type_bits(n.kind) | n.mode);
  inode->base.mod_time = n.mtime;
  inode->base.inode_number = n.inode_num;
  super.modification_time = std::max(super.modification_time, n.mtime);
  sqfs_u32 xattr_idx = 0xFFFFFFFF;
  if (!n.xattrs.empty()) {
    check(sqfs_xattr_writer_begin(xwr.get(), 0), "write xattrs to");
    for (auto& [key, value] : n.xattrs) {
      int r = sqfs_xattr_writer_add(xwr.get(), key.c_str(), value.data(), value.size());
      if (r == SQFS_ERROR_UNSUPPORTED) {
        st.xattrs_dropped++;  // SquashFS holds user., trusted. and security. only
        continue;
      }
      check(r, "write xattrs to");
    }
    check(sqfs_xattr_writer_end(xwr.get(), &xattr_idx), "write xattrs to");
  }
  check(sqfs_inode_set_xattr_index(inode.get(), xattr_idx), "write inode to");
  check(sqfs_id_table_id_to_index(idtbl.get(), n.uid, &inode->base.uid_idx), "record uid in");
  check(sqfs_id_table_id_to_index(idtbl.get(), n.gid, &inode->base.gid_idx), "record gid in");
  sqfs_u64 block = 0;
  sqfs_u32 offset = 0;
  sqfs_meta_writer_get_position(im.get(), &block, &offset);
  n.inode_ref = (block << 16) | offset;
  check(sqfs_meta_writer_write_inode(im.get(), inode.get()), "write inode to");
}

void SquashfsWriter::Impl::publish() {
  // Pad to a device block as mksquashfs and tar2sqfs do (loop devices want it).
  uint64_t size = file->size;
  if (size % SQFS_DEVBLK_SIZE != 0) {
    std::vector<char> zeros(SQFS_DEVBLK_SIZE - size % SQFS_DEVBLK_SIZE);
    check(file_obj->write_at(file_obj.get(), size, zeros.data(), zeros.size()), "pad");
  }
  if (fsync(fd.get()) != 0) throw_errno("fsync", tmp_path);
  if (rename(tmp_path.c_str(), out_path.c_str()) != 0) throw_errno("rename " + tmp_path + " to", out_path);
  committed = true;
  // The rename is durable once the directory is.
  auto slash = out_path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : out_path.substr(0, slash);
  Fd d = open_or_throw(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fsync(d.get()) != 0) throw_errno("fsync", dir);
}

WriteStats SquashfsWriter::commit(TreeNode& root) {
  Impl& w = *impl_;
  WriteStats st;
  {
    log::Timer t("convert: wait for data blocks");
    w.check(sqfs_block_processor_finish(w.proc.get()), "finish data blocks of");
  }
  log::Timer t("convert: write inodes, directories and tables");
  std::vector<std::pair<TreeNode*, TreeNode*>> order;
  w.number(root, order, st);
  root.inode_num = static_cast<uint32_t>(order.size() + 1);
  order.emplace_back(&root, nullptr);
  w.super.inode_table_start = w.file->size;
  w.super.inode_count = static_cast<sqfs_u32>(order.size());
  for (auto& [node, parent] : order) w.write_inode(*node, parent, st);
  w.check(sqfs_meta_writer_flush(w.im.get()), "write inode table to");
  w.check(sqfs_meta_writer_flush(w.dm.get()), "write directory table to");
  w.super.root_inode_ref = root.inode_ref;
  w.super.directory_table_start = w.file->size;
  w.check(sqfs_meta_write_write_to_file(w.dm.get()), "write directory table to");
  w.check(sqfs_frag_table_write(w.fragtbl.get(), w.file_obj.get(), &w.super, w.cmp.get()), "write fragment table to");
  w.check(sqfs_id_table_write(w.idtbl.get(), w.file_obj.get(), &w.super, w.cmp.get()), "write id table to");
  w.check(sqfs_xattr_writer_flush(w.xwr.get(), w.file_obj.get(), &w.super, w.cmp.get()), "write xattr table to");
  w.super.bytes_used = w.file->size;
  w.check(sqfs_super_write(&w.super, w.file_obj.get()), "write superblock of");
  w.publish();
  st.data_bytes = w.data_bytes;
  st.image_bytes = w.file->size;
  return st;
}

}  // namespace ferry::image
