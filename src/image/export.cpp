#include "ferry/image/export.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <map>
#include <vector>

#include "ferry/core/error.hpp"
#include "ferry/core/fd.hpp"
#include "ferry/core/file_lock.hpp"
#include "ferry/core/log.hpp"
#include "squashfs_reader.hpp"
#include "tar_writer.hpp"

namespace ferry::image {
namespace {

constexpr size_t kChunk = 1 << 20;

// DEST.tmp.PID, renamed over DEST on commit(), removed otherwise.
class Staged {
 public:
  explicit Staged(std::string dest)
      : dest_(std::move(dest)), tmp_(dest_ + ".tmp." + std::to_string(::getpid())) {}
  ~Staged() {
    if (!done_) ::unlink(tmp_.c_str());
  }
  Staged(const Staged&) = delete;
  Staged& operator=(const Staged&) = delete;
  const std::string& path() const { return tmp_; }
  void commit() {
    Fd f = open_or_throw(tmp_, O_RDONLY);
    if (::fsync(f.get()) != 0) throw_errno("fsync", tmp_);
    if (::rename(tmp_.c_str(), dest_.c_str()) != 0) throw_errno("rename", tmp_ + " to " + dest_);
    done_ = true;
    sync_parent_dir(dest_);
  }

 private:
  std::string dest_, tmp_;
  bool done_ = false;
};

void copy_file(const std::string& from, const std::string& to) {
  Fd in = open_or_throw(from, O_RDONLY);
  Fd out = open_or_throw(to, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  for (;;) {
    ssize_t n = ::copy_file_range(in.get(), nullptr, out.get(), nullptr, kChunk * 64, 0);
    if (n < 0) throw_errno("copy", from + " to " + to);
    if (n == 0) return;
  }
}

// The image's tree as `docker export` writes a container's: every entry but
// the root directory itself, "./"-less relative paths ("bin/", "bin/sh"),
// depth first with names in byte order (SquashFS keeps directories sorted;
// sorted again here so the order never depends on the writer). A file met
// again under another name (same inode number: SquashFS hard links share
// their inode) becomes a hard link entry to its first path, as tar does.
// Nothing is resolved on the host: symlinks are written as they are.
class SqfsTar {
 public:
  SqfsTar(SquashfsReader& fs, TarOut& out, std::string image)
      : fs_(fs), out_(out), image_(std::move(image)) {}
  void run() {
    walk(fs_.root(), "");
    out_.finish();
  }

 private:
  struct Child {
    std::string name;
    InodeRef ref;
    struct stat st;
  };
  void walk(InodeRef dir, const std::string& prefix);
  void add(const Child& c, const std::string& path);
  void add_xattrs(TarHeader& h, InodeRef ref, const std::string& path);
  void write_body(InodeRef ref, uint64_t size, const std::string& path);
  // "read /bin/sh in /…/images/ab12….sqfs: Input/output error"
  [[noreturn]] void fail(int err, const std::string& op, const std::string& path) const {
    throw Error(err, op, "/" + path + " in " + image_);
  }

  SquashfsReader& fs_;
  TarOut& out_;
  std::string image_;
  std::map<ino_t, std::string> links_;  // first path of each multiply-linked inode
};

void SqfsTar::walk(InodeRef dir, const std::string& prefix) {
  // Listed first, then written: readdir() holds the reader's lock while it
  // calls back, and add() needs the reader again.
  std::vector<Child> children;
  int e = fs_.readdir(dir, 0, true, [&](const DirEntry& d) {
    if (d.st) children.push_back({d.name, d.ref, *d.st});  // "." and ".." carry no attributes
    return true;
  });
  if (e) fail(e, "readdir", prefix);
  std::sort(children.begin(), children.end(), [](const Child& a, const Child& b) { return a.name < b.name; });
  for (const Child& c : children) add(c, prefix.empty() ? c.name : prefix + "/" + c.name);
}

void SqfsTar::add(const Child& c, const std::string& path) {
  const struct stat& st = c.st;
  if (S_ISSOCK(st.st_mode)) return;  // sockets cannot be archived; tar skips them too
  TarHeader h;
  h.path = S_ISDIR(st.st_mode) ? path + "/" : path;
  h.mode = st.st_mode, h.uid = st.st_uid, h.gid = st.st_gid, h.mtime = st.st_mtim.tv_sec;
  if (!S_ISDIR(st.st_mode) && st.st_nlink > 1) {
    auto [it, first] = links_.try_emplace(st.st_ino, path);
    if (!first) {
      h.type = '1', h.link = it->second;
      return out_.header(h);
    }
  }
  add_xattrs(h, c.ref, path);
  if (S_ISLNK(st.st_mode)) {
    h.type = '2';
    if (int e = fs_.readlink(c.ref, &h.link)) fail(e, "readlink", path);
    return out_.header(h);
  }
  if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) || S_ISFIFO(st.st_mode)) {
    h.type = S_ISCHR(st.st_mode) ? '3' : S_ISBLK(st.st_mode) ? '4' : '6';
    h.devmajor = major(st.st_rdev), h.devminor = minor(st.st_rdev);
    return out_.header(h);
  }
  if (S_ISDIR(st.st_mode)) {
    h.type = '5';
    out_.header(h);
    return walk(c.ref, path);
  }
  h.size = static_cast<uint64_t>(st.st_size);
  out_.header(h);
  write_body(c.ref, h.size, path);
}

// As SCHILY.xattr records (GNU tar --xattrs, Docker, libarchive read them),
// in name order.
void SqfsTar::add_xattrs(TarHeader& h, InodeRef ref, const std::string& path) {
  if (!fs_.has_xattrs()) return;
  std::string list;
  if (int e = fs_.listxattr(ref, &list)) fail(e, "listxattr", path);
  std::vector<std::string> names;
  for (size_t p = 0; p < list.size(); p += names.back().size() + 1) names.emplace_back(list.c_str() + p);
  std::sort(names.begin(), names.end());
  for (auto& name : names) {
    std::string value;
    if (int e = fs_.getxattr(ref, name, &value)) fail(e, "getxattr " + name, path);
    h.xattrs.emplace_back(std::move(name), std::move(value));
  }
}

void SqfsTar::write_body(InodeRef ref, uint64_t size, const std::string& path) {
  for (uint64_t off = 0; off < size;) {
    ReadResult r;
    if (int e = fs_.read(ref, off, kChunk, &r)) fail(e, "read", path);
    if (r.size == 0) fail(EIO, "read", path);  // shorter than its inode says: corrupt
    for (const iovec& v : r.iov) out_.data(v.iov_base, v.iov_len);
    off += r.size;
  }
  out_.pad(size);
}

void write_tar(const StoredImage& image, int fd, const std::string& what) {
  log::Timer t("export: tar");
  auto fs = SquashfsReader::open(image.sqfs);
  TarOut out(fd, what);
  try {
    SqfsTar(*fs, out, image.sqfs).run();
  } catch (const TarOut::ReaderGone&) {
    // Only from a socket: a pipe whose reader left raises SIGPIPE, which
    // ends ferry quietly, as it ends tar or cat.
    throw Error(EPIPE, "write", what);
  }
}

}  // namespace

void export_image(const StoredImage& image, const std::string& dest, ExportFormat format) {
  if (format == ExportFormat::Tar && dest == "-") {
    // As `docker export`: binary data on a terminal helps nobody.
    if (::isatty(STDOUT_FILENO))
      throw Error("refusing to write a tarball to a terminal: redirect standard output, or give a PATH");
    return write_tar(image, STDOUT_FILENO, "standard output");
  }
  if (dest == "-") throw Error("export to standard output is for --format tar");
  Staged out(dest);
  if (format == ExportFormat::Tar) {
    Fd f = open_or_throw(out.path(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    write_tar(image, f.get(), out.path());
  } else {
    copy_file(image.sqfs, out.path());
  }
  out.commit();
}

}  // namespace ferry::image
