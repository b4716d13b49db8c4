#include "rootfs.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <deque>
#include <fmt/format.h>

#include "ferry/core/error.hpp"
#include "ferry/core/log.hpp"
#include "ferry/core/path.hpp"
#include "mount_ops.hpp"

namespace ferry::runtime {
namespace {

constexpr int kMaxSymlinks = 40;  // as the kernel's MAXSYMLINKS

Fd open_path(int dirfd, const char* name) {
  return Fd(::openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC));
}

struct stat stat_fd(int fd, const std::string& what) {
  struct stat st {};
  if (::fstatat(fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) != 0) throw_errno("stat", what);
  return st;
}

std::string read_link(int fd, const std::string& what) {
  char buf[PATH_MAX];
  ssize_t n = ::readlinkat(fd, "", buf, sizeof buf - 1);
  if (n < 0) throw_errno("readlink", what);
  return std::string(buf, static_cast<size_t>(n));
}

}  // namespace

Rootfs::Rootfs(std::string root, std::string staging)
    : root_(std::move(root)), staging_(std::move(staging)) {}

Rootfs::Walk Rootfs::walk(const std::string& path, bool follow_last) {
  Walk w;
  w.chain.push_back(open_or_throw(root_, O_PATH | O_DIRECTORY));
  auto parts = split_path(path);
  std::deque<std::string> todo(parts.begin(), parts.end());
  int links = 0;
  while (!todo.empty()) {
    std::string name = std::move(todo.front());
    todo.pop_front();
    if (name == "..") {
      if (w.chain.size() == 1)
        throw Error(fmt::format("{}: resolves outside the container root through a symlink", path));
      w.chain.pop_back();
      continue;
    }
    Fd fd = open_path(w.chain.back().get(), name.c_str());
    if (!fd) {
      if (errno != ENOENT) throw_errno("open", fmt::format("{} (component {})", path, name));
      w.rest.push_back(name);
      w.rest.insert(w.rest.end(), todo.begin(), todo.end());
      return w;
    }
    struct stat st = stat_fd(fd.get(), path);
    if (S_ISLNK(st.st_mode) && (!todo.empty() || follow_last)) {
      if (++links > kMaxSymlinks) throw Error(ELOOP, "resolve", path);
      std::string target = read_link(fd.get(), path);
      if (!target.empty() && target[0] == '/') w.chain.resize(1);  // absolute: from the container root
      auto tparts = split_path(target);
      todo.insert(todo.begin(), tparts.begin(), tparts.end());
      continue;
    }
    if (todo.empty()) {
      w.found = std::move(fd);
      return w;
    }
    if (!S_ISDIR(st.st_mode)) throw Error(ENOTDIR, "resolve", path);
    w.chain.push_back(std::move(fd));
  }
  w.found = Fd(::fcntl(w.chain.back().get(), F_DUPFD_CLOEXEC, 3));  // the path was the root itself
  return w;
}

std::optional<Fd> Rootfs::open(const std::string& path, bool follow_last) {
  Walk w = walk(path, follow_last);
  if (w.found) return std::move(*w.found);
  return std::nullopt;
}

Fd Rootfs::ensure(const std::string& path, bool directory) {
  for (int attempt = 0; attempt < 64; ++attempt) {
    Walk w = walk(path, true);
    if (w.found) {
      bool is_dir = S_ISDIR(stat_fd(w.found->get(), path).st_mode);
      if (is_dir != directory)
        throw Error(fmt::format("{}: exists in the container as a {}, expected a {}", path,
                                is_dir ? "directory" : "file", directory ? "directory" : "file"));
      return std::move(*w.found);
    }
    int parent = w.chain.back().get();
    const char* name = w.rest.front().c_str();
    int rc = (directory || w.rest.size() > 1)
                 ? ::mkdirat(parent, name, 0755)
                 : ::openat(parent, name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
    if (rc >= 0 && !(directory || w.rest.size() > 1)) ::close(rc);
    if (rc >= 0 || errno == EEXIST) continue;
    if (errno != EROFS && errno != EACCES && errno != EPERM)
      throw_errno("create mount point", path);
    shadow(parent, path);
  }
  throw Error(fmt::format("{}: could not create a mount point", path));
}

// Replaces the directory behind dir_fd with a tmpfs holding a bind of each of
// its entries, so that new entries can be added without writing to the image.
void Rootfs::shadow(int dir_fd, const std::string& what) {
  log::debug(fmt::format("shadowing a read-only directory to create {}", what));
  struct stat dst = stat_fd(dir_fd, what);
  std::string tmp = fmt::format("{}/shadow{}", staging_, shadows_.size());
  if (::mkdir(tmp.c_str(), 0700) != 0) throw_errno("mkdir", tmp);
  mount_tmpfs(tmp, fmt::format("mode={:o}", dst.st_mode & 07777));
  Fd top = open_or_throw(tmp, O_PATH | O_DIRECTORY);
  Fd list(::openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!list) throw_errno("open directory", what);
  DIR* d = ::fdopendir(list.release());
  if (d == nullptr) throw_errno("fdopendir", what);
  std::unique_ptr<DIR, int (*)(DIR*)> guard(d, ::closedir);
  Fd top_dir = open_or_throw(tmp, O_RDONLY | O_DIRECTORY);
  while (struct dirent* e = ::readdir(d)) {
    std::string_view n = e->d_name;
    if (n == "." || n == "..") continue;
    Fd src = open_path(dir_fd, e->d_name);
    if (!src) throw_errno("open", fmt::format("{}/{}", what, n));
    struct stat st = stat_fd(src.get(), what);
    int rc = 0;
    if (S_ISLNK(st.st_mode)) {
      rc = ::symlinkat(read_link(src.get(), what).c_str(), top_dir.get(), e->d_name);
      if (rc != 0) throw_errno("symlink", tmp + "/" + e->d_name);
      continue;
    }
    if (S_ISDIR(st.st_mode)) rc = ::mkdirat(top_dir.get(), e->d_name, 0755);
    else rc = ::mknodat(top_dir.get(), e->d_name, S_IFREG | 0644, 0);
    if (rc != 0) throw_errno("create", tmp + "/" + e->d_name);
    Fd dst_fd = open_path(top_dir.get(), e->d_name);
    bind_fd(src.get(), dst_fd.get(), MountFlags{false, false, false}, fmt::format("{}/{}", what, n));
  }
  move_mount_to(tmp, dir_fd, what);
  shadows_.push_back(std::move(top));
}

void Rootfs::seal() {
  for (const auto& s : shadows_) set_mount_flags_fd(s.get(), MountFlags{true, true, true}, "shadow directory");
}

}  // namespace ferry::runtime
