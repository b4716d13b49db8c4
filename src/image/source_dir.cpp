// `dir:PATH`: a root file-system directory streamed as a pax tar into the
// same conversion as every layer, so a
// directory is converted exactly as `tar -C PATH -c .` would be, without a
// temporary tarball. import.cpp runs this on a thread writing into a socket
// pair whose other end is the LayerReader's descriptor.
//
// The walk does not use libarchive's disk reader: linked statically, it
// would pull libacl into ferry. It opens every directory and file relative
// to its parent's descriptor with O_NOFOLLOW (STYLE.md 7), so a symlink in
// the tree is stored as a symlink and never followed. The tar itself is
// written by TarOut (tar_writer.hpp), shared with `ferry export`.
//
// Reproducible: depth first, names in byte order (as `tar --sort=name`),
// whole-second mtimes, no atime/ctime, no user or group names, pax records
// only where a ustar field is too small, xattrs in name order.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <vector>

#include "ferry/core/error.hpp"
#include "ferry/core/fd.hpp"
#include "ferry/image/source.hpp"
#include "tar_writer.hpp"

namespace ferry::image {
namespace {

class DirTar {
 public:
  DirTar(std::string root, int out) : root_(std::move(root)), out_(out), tar_(out, "tar stream") {}
  void run();

 private:
  void walk(int dirfd, const std::string& prefix);
  void add(int dirfd, const std::string& name, const std::string& path);
  void add_xattrs(TarHeader& h, int fd, const std::string& host);
  void write_body(int fd, uint64_t size, const std::string& host);
  std::string host_path(const std::string& path) const { return root_ + path.substr(1); }  // path: "./…"

  std::string root_;
  Fd out_;
  TarOut tar_;
  std::map<std::pair<dev_t, ino_t>, std::string> links_;  // first path of each multiply-linked file
};

void DirTar::run() {
  Fd dir = open_or_throw(root_, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  add(dir.get(), ".", ".");
  tar_.finish();
}

void DirTar::walk(int dirfd, const std::string& prefix) {
  Fd copy(::fcntl(dirfd, F_DUPFD_CLOEXEC, 0));
  if (!copy) throw_errno("dup", host_path(prefix));
  DIR* d = ::fdopendir(copy.get());
  if (!d) throw_errno("opendir", host_path(prefix));
  copy.release();
  std::vector<std::string> names;
  errno = 0;
  while (dirent* de = ::readdir(d))
    if (std::strcmp(de->d_name, ".") != 0 && std::strcmp(de->d_name, "..") != 0) names.emplace_back(de->d_name);
  int err = errno;
  ::closedir(d);
  if (err) throw Error(err, "readdir", host_path(prefix));
  std::sort(names.begin(), names.end());
  for (const auto& n : names) add(dirfd, n, prefix + "/" + n);
}

void DirTar::add(int dirfd, const std::string& name, const std::string& path) {
  struct stat st {};
  std::string host = host_path(path);
  if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) throw_errno("stat", host);
  if (S_ISSOCK(st.st_mode)) return;  // sockets cannot be archived; tar skips them too
  TarHeader h;
  h.path = S_ISDIR(st.st_mode) ? path + "/" : path;
  h.mode = st.st_mode, h.uid = st.st_uid, h.gid = st.st_gid, h.mtime = st.st_mtime;
  if (S_ISLNK(st.st_mode)) {
    h.type = '2';
    h.link.resize(static_cast<size_t>(st.st_size) + 1);
    ssize_t n = ::readlinkat(dirfd, name.c_str(), h.link.data(), h.link.size());
    if (n < 0) throw_errno("readlink", host);
    h.link.resize(static_cast<size_t>(n));
    return tar_.header(h);
  }
  if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) || S_ISFIFO(st.st_mode)) {
    h.type = S_ISCHR(st.st_mode) ? '3' : S_ISBLK(st.st_mode) ? '4' : '6';
    h.devmajor = major(st.st_rdev), h.devminor = minor(st.st_rdev);
    return tar_.header(h);
  }
  if (S_ISREG(st.st_mode) && st.st_nlink > 1) {
    auto [it, first] = links_.try_emplace({st.st_dev, st.st_ino}, path);
    if (!first) {
      h.type = '1', h.link = it->second;
      return tar_.header(h);
    }
  }
  int flags = O_RDONLY | O_NOFOLLOW | O_CLOEXEC | (S_ISDIR(st.st_mode) ? O_DIRECTORY : 0);
  Fd fd(::openat(dirfd, name.c_str(), flags));
  if (!fd) throw_errno("open", host);
  add_xattrs(h, fd.get(), host);
  h.type = S_ISDIR(st.st_mode) ? '5' : '0';
  h.size = S_ISDIR(st.st_mode) ? 0 : static_cast<uint64_t>(st.st_size);
  tar_.header(h);
  if (S_ISDIR(st.st_mode)) return walk(fd.get(), path);
  write_body(fd.get(), h.size, host);
}

// Extended attributes SquashFS can hold, except the host's SELinux label.
void DirTar::add_xattrs(TarHeader& h, int fd, const std::string& host) {
  ssize_t n = ::flistxattr(fd, nullptr, 0);
  if (n <= 0) return;  // none, or not supported by this file system
  std::string list(static_cast<size_t>(n), '\0');
  n = ::flistxattr(fd, list.data(), list.size());
  if (n < 0) throw_errno("listxattr", host);
  std::vector<std::string> names;
  for (size_t p = 0; p < static_cast<size_t>(n); p += std::strlen(list.c_str() + p) + 1)
    names.emplace_back(list.c_str() + p);
  std::sort(names.begin(), names.end());
  for (const auto& name : names) {
    if (name.starts_with("system.") || name == "security.selinux") continue;
    ssize_t len = ::fgetxattr(fd, name.c_str(), nullptr, 0);
    if (len < 0) throw_errno("getxattr " + name, host);
    std::string value(static_cast<size_t>(len), '\0');
    len = ::fgetxattr(fd, name.c_str(), value.data(), value.size());
    if (len < 0) throw_errno("getxattr " + name, host);
    value.resize(static_cast<size_t>(len));
    h.xattrs.emplace_back(name, std::move(value));
  }
}

// Exactly SIZE bytes, as the header said: a file that shrinks while it is
// read is padded with zeros (as GNU tar does), one that grows is cut.
void DirTar::write_body(int fd, uint64_t size, const std::string& host) {
  std::vector<char> buf(256 * 1024);
  uint64_t done = 0;
  while (done < size) {
    ssize_t n = ::read(fd, buf.data(), static_cast<size_t>(std::min<uint64_t>(buf.size(), size - done)));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw_errno("read", host);
    if (n == 0) break;
    tar_.data(buf.data(), static_cast<size_t>(n));
    done += static_cast<uint64_t>(n);
  }
  std::fill(buf.begin(), buf.end(), 0);
  for (uint64_t z; (z = std::min<uint64_t>(buf.size(), size - done)) > 0; done += z) tar_.data(buf.data(), z);
  tar_.pad(size);
}

}  // namespace

void write_dir_tar(const std::string& dir, int fd) {
  try {
    DirTar(dir, fd).run();
  } catch (const TarOut::ReaderGone&) {
    // The conversion stopped reading; its own error is the one to report.
  }
}

}  // namespace ferry::image
