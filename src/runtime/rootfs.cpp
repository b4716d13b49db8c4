#include "rootfs.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <deque>
#include <fmt/format.h>

#include "ferry/core/error.hpp"
#include "ferry/core/log.hpp"
#include "ferry/core/path.hpp"

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

bool same_file(const struct stat& a, const struct stat& b) { return a.st_dev == b.st_dev && a.st_ino == b.st_ino; }

std::string read_link(int fd, const std::string& what) {
  char buf[PATH_MAX];
  ssize_t n = ::readlinkat(fd, "", buf, sizeof buf - 1);
  if (n < 0) throw_errno("readlink", what);
  return std::string(buf, static_cast<size_t>(n));
}

}  // namespace

Rootfs::Rootfs(std::string root) : root_(std::move(root)) {}

int Rootfs::root_fd() {
  if (!root_fd_) {
    root_fd_ = open_or_throw(root_, O_PATH | O_DIRECTORY);
    root_id_ = stat_fd(root_fd_.get(), root_);
  }
  return root_fd_.get();
}

Rootfs::Beneath Rootfs::resolve_beneath(const std::string& path, int flags, Fd& out) {
  static std::atomic<bool> unsupported{false};  // before Linux 5.6: ENOSYS, asked once
  if (unsupported.load(std::memory_order_relaxed)) return Beneath::kWalk;
  out = open_resolved(root_fd(), path, flags, RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS);
  if (out) return Beneath::kFound;
  // ENOENT is final: a component before any absolute symlink or climb is
  // missing, and the walk would find it missing too. The walk's own rules
  // (EXDEV), and ENOTDIR, ELOOP, ... for its messages, go to the walk.
  if (errno == ENOENT) return Beneath::kAbsent;
  if (errno == ENOSYS) unsupported.store(true, std::memory_order_relaxed);
  return Beneath::kWalk;
}

Rootfs::Walk Rootfs::walk(const std::string& path, bool follow_last) {
  Walk w;
  w.chain.push_back(Fd(::fcntl(root_fd(), F_DUPFD_CLOEXEC, 3)));
  if (!w.chain.back()) throw_errno("dup", root_);
  w.names.emplace_back();
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
      w.names.pop_back();
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
      if (!target.empty() && target[0] == '/') {  // absolute: from the container root
        w.chain.resize(1);
        w.names.resize(1);
      }
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
    w.names.push_back(std::move(name));
  }
  w.found = Fd(::fcntl(w.chain.back().get(), F_DUPFD_CLOEXEC, 3));  // the path was the root itself
  return w;
}

std::optional<Fd> Rootfs::open(const std::string& path, bool follow_last) {
  Fd fd;
  switch (resolve_beneath(path, O_PATH | (follow_last ? 0 : O_NOFOLLOW), fd)) {
    case Beneath::kFound: return fd;
    case Beneath::kAbsent: return std::nullopt;
    case Beneath::kWalk: break;
  }
  Walk w = walk(path, follow_last);
  if (w.found) return std::move(*w.found);
  return std::nullopt;
}

std::optional<Fd> Rootfs::open_file(const std::string& path, struct stat& st) {
  Fd fd;
  Beneath b = resolve_beneath(path, O_RDONLY | O_NONBLOCK | O_NOCTTY, fd);
  if (b == Beneath::kAbsent) return std::nullopt;
  if (b == Beneath::kWalk) {  // not open(): its openat2 has just been answered
    Walk w = walk(path, true);
    if (!w.found) return std::nullopt;
    fd = Fd(::open(fd_path(w.found->get()).c_str(), O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
  }
  if (!fd || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
  return fd;
}

void Rootfs::check_type(int fd, const std::string& path, bool directory, bool* on_root) {
  struct stat st = stat_fd(fd, path);
  bool is_dir = S_ISDIR(st.st_mode);
  if (is_dir != directory)
    throw Error(fmt::format("{}: exists in the container as a {}, expected a {}", path,
                            is_dir ? "directory" : "file", directory ? "directory" : "file"));
  if (on_root) {
    root_fd();  // root_id_ is the current root's
    *on_root = same_file(st, root_id_);
  }
}

std::optional<MissingPath> Rootfs::missing(const std::string& path, bool directory, bool* on_root) {
  if (on_root) *on_root = false;
  auto found = [&](int fd) -> std::optional<MissingPath> {
    check_type(fd, path, directory, on_root);
    return std::nullopt;
  };
  if (Fd fd; resolve_beneath(path, O_PATH, fd) == Beneath::kFound) return found(fd.get());
  Walk w = walk(path, true);
  if (w.found) return found(w.found->get());
  // A symlink through a missing directory and then back up (`a -> x/../..`)
  // is not resolved by name: the layer's points are made by path, and
  // `x/..` there would climb out of the layer.
  if (std::find(w.rest.begin(), w.rest.end(), "..") != w.rest.end())
    throw Error(fmt::format("{}: a symlink in the image leads through a missing directory and then '..'; no mount "
                            "point is made for it",
                            path));
  MissingPath m;
  m.existing.assign(w.names.begin() + 1, w.names.end());
  for (size_t i = 1; i < w.chain.size(); ++i) m.modes.push_back(stat_fd(w.chain[i].get(), path).st_mode);
  m.rest = std::move(w.rest);
  m.directory = directory;
  return m;
}

Fd Rootfs::existing(const std::string& path, bool directory, bool* on_root) {
  if (auto fd = open(path)) {
    check_type(fd->get(), path, directory, on_root);
    return std::move(*fd);
  }
  Walk w = walk(path, true);
  if (!w.found && std::find(private_devs_.begin(), private_devs_.end(),
                            stat_fd(w.chain.back().get(), path).st_dev) != private_devs_.end())
    return ensure(path, directory, on_root);
  throw Error(fmt::format("{}: a symlink in the image leads it into a host directory, where ferry makes no mount "
                          "point",
                          path));
}

void Rootfs::private_mount(const std::string& staged) {
  struct stat st {};
  if (::stat(staged.c_str(), &st) != 0) throw_errno("stat", staged);
  private_devs_.push_back(st.st_dev);
}

Fd Rootfs::ensure(const std::string& path, bool directory, bool* on_root) {
  if (Fd fd; resolve_beneath(path, O_PATH, fd) == Beneath::kFound) {
    check_type(fd.get(), path, directory, on_root);
    return fd;
  }
  for (int attempt = 0; attempt < 64; ++attempt) {
    Walk w = walk(path, true);
    if (w.found) {
      check_type(w.found->get(), path, directory, on_root);
      return std::move(*w.found);
    }
    int parent = w.chain.back().get();
    const char* name = w.rest.front().c_str();
    bool dir = directory || w.rest.size() > 1;
    int rc = dir ? ::mkdirat(parent, name, 0755)
                 : ::openat(parent, name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
    if (rc >= 0 && !dir) ::close(rc);
    if (rc < 0 && errno != EEXIST) throw_errno("create mount point", path);
  }
  throw Error(fmt::format("{}: could not create a mount point", path));
}

void make_mount_points(const std::string& layer, const std::vector<MissingPath>& points) {
  auto plain = [](const std::string& n) { return !n.empty() && n != "." && n != ".." && n.find('/') == n.npos; };
  for (const auto& p : points) {
    if (!std::all_of(p.existing.begin(), p.existing.end(), plain) || !std::all_of(p.rest.begin(), p.rest.end(), plain))
      throw Error("a mount point's path has a component that is not a plain name");
    std::string at = layer;
    for (size_t i = 0; i < p.existing.size(); ++i) {
      at += "/" + p.existing[i];
      if (::mkdir(at.c_str(), 0755) != 0) {
        if (errno == EEXIST) continue;
        throw_errno("mkdir", at);
      }
      // The layer's directory stands in for the image's in the overlay.
      if (::chmod(at.c_str(), p.modes[i] & 07777) != 0) throw_errno("chmod", at);
    }
    for (size_t i = 0; i < p.rest.size(); ++i) {
      at += "/" + p.rest[i];
      bool dir = p.directory || i + 1 < p.rest.size();
      int rc = dir ? ::mkdir(at.c_str(), 0755) : ::mknod(at.c_str(), S_IFREG | 0644, 0);
      if (rc != 0 && errno != EEXIST) throw_errno("create mount point", at);
    }
  }
}

}  // namespace ferry::runtime
