// Finding, starting and talking to mount holders (rendezvous.hpp); the
// holder itself is holder.cpp. docs/design/shared-mounts.md tells the story.
#include "rendezvous.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fmt/format.h>
#include <vector>

#include "ferry/core/error.hpp"
#include "ferry/core/log.hpp"
#include "ferry/core/sha256.hpp"
#include "ferry/runtime/mounts.hpp"

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77  // Linux 6.5; older kernels answer ENOPROTOOPT
#endif

namespace ferry::runtime {
namespace {

constexpr int kReplyTimeoutS = 10;
constexpr int kStartTimeoutMs = 30000;

// DIR is the caller's own private directory (core's open_private_dir).
// Made when missing (create).
bool private_dir(const std::string& dir, bool create, bool must) {
  if (!must) return static_cast<bool>(open_private_dir(dir, create).fd);
  open_private_dir_or_throw(dir, create, "rendezvous directory", "for shared mounts");
  return true;
}

// The image a holder is for: its path, and for a directory the identity
// the key was made from (the root a joiner takes must be that one).
struct Target {
  std::string path;
  bool directory = false;
  dev_t dev = 0;
  ino_t ino = 0;
};

std::optional<SharedMount> try_attach(const HolderPaths& paths, const Target& t) {
  auto fd = connect_holder(paths.sock);
  if (!fd) return std::nullopt;
  auto reply = ask_holder(fd->get(), "attach");
  if (!reply || *reply != "ok") return std::nullopt;  // it is ending: start another
  SharedMount m;
  if (!holder_pidfd(fd->get(), m.pidfd, m.pid)) return std::nullopt;
  m.socket = std::move(*fd);
  m.root = t.directory ? t.path : paths.root;
  m.directory = t.directory;
  m.dev = t.dev;
  m.ino = t.ino;
  return m;
}

// Reads the holder's start-up verdict from the pipe: "ok", or its error.
void await_ready(int fd, pid_t pid) {
  std::string msg;
  char buf[1024];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    int r = ::poll(&p, 1, kStartTimeoutMs);
    if (r == 0) throw Error(fmt::format("the mount holder (pid {}) did not start within {} s", pid, kStartTimeoutMs / 1000));
    if (r < 0) {
      if (errno == EINTR) continue;
      throw_errno("poll", "mount holder start");
    }
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    msg.append(buf, static_cast<size_t>(n));
  }
  if (msg == "ok") return;
  if (msg.empty()) throw Error(fmt::format("the mount holder (pid {}) exited before it was ready", pid));
  throw Error(msg);  // the holder's own one-line error, as a private mount would give it
}

// Starts `ferry mount-holder` detached from us: a double fork, so that it is
// not our child (our supervisor reaps and kills children) and, after
// setsid(), in no process group a terminal or a launcher signals.
void spawn_holder(const std::string& key, const Target& t, const std::string& name, int grace,
                  const std::vector<std::string>& points) {
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) throw_errno("pipe", "mount holder");
  Fd rd(pipefd[0]), wr(pipefd[1]);
  const std::string ready = "3";  // the pipe's number in the holder
  std::string grace_s = std::to_string(grace);
  std::vector<const char*> argv = {"ferry",      "mount-holder", "--key",   key.c_str(),   "--image",
                                   name.c_str(), "--grace",      grace_s.c_str(), "--ready-fd", ready.c_str()};
  if (t.directory) argv.push_back("--directory");
  for (const auto& p : points) argv.insert(argv.end(), {"--point", p.c_str()});
  argv.insert(argv.end(), {"--", t.path.c_str(), nullptr});
  pid_t child = ::fork();
  if (child < 0) throw_errno("fork", "mount holder");
  if (child == 0) {
    ::setsid();
    if (::fork() != 0) ::_exit(0);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    int null = ::open("/dev/null", O_RDWR);
    if (null >= 0) {
      ::dup2(null, 0), ::dup2(null, 1), ::dup2(null, 2);
      if (null > 2) ::close(null);
    }
    // The pipe becomes fd 3 and nothing else is inherited: a holder that
    // kept its starter's descriptors (a caller's pipe, a lock, a launcher's
    // ready pipe) would hold them open for its whole life.
    if (wr.get() == 3) ::fcntl(3, F_SETFD, 0);
    else ::dup2(wr.get(), 3);
    ::syscall(SYS_close_range, 4U, ~0U, 0U);
    ::execv("/proc/self/exe", const_cast<char* const*>(argv.data()));
    std::string err = fmt::format("exec /proc/self/exe: {}", std::strerror(errno));
    (void)!::write(wr.get(), err.data(), err.size());
    ::_exit(127);
  }
  wr.reset();
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  await_ready(rd.get(), child);
}

}  // namespace

// The holder's pid and a pidfd of it. SO_PEERPIDFD names the very process
// that listens; on kernels before 6.5 the pid from SO_PEERCRED is opened,
// and the connection being still up proves it was not reused meanwhile.
bool holder_pidfd(int sock, Fd& pidfd, pid_t& pid) {
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) throw_errno("SO_PEERCRED", "holder socket");
  if (cred.uid != ::getuid()) throw Error("a mount holder of another user answered; refusing to join it");
  pid = cred.pid;
  int fd = -1;
  len = sizeof fd;
  if (::getsockopt(sock, SOL_SOCKET, SO_PEERPIDFD, &fd, &len) == 0) {
    pidfd = Fd(fd);
    return true;
  }
  pidfd = Fd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  if (!pidfd) return false;
  pollfd p{sock, POLLRDHUP, 0};
  return ::poll(&p, 1, 0) == 0;
}

namespace {

// A directory's contents are live (read through its path by each joiner),
// so only which directory it is counts; "dir:" keeps the two kinds apart.
std::string key_of(const struct stat& st) {
  std::string id = S_ISDIR(st.st_mode)
                       ? fmt::format("dir:{}:{}", st.st_dev, st.st_ino)
                       : fmt::format("{}:{}:{}:{}.{}", st.st_dev, st.st_ino, st.st_size, st.st_ctim.tv_sec,
                                     st.st_ctim.tv_nsec);
  return sha256_digest(id).substr(7, 32);  // past "sha256:"; 128 bits
}

}  // namespace

std::string mount_key(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) throw_errno("stat", path);
  return key_of(st);
}

std::string rendezvous_dir() {
  std::string base;
  const char* xdg = std::getenv("XDG_RUNTIME_DIR");
  if (xdg != nullptr && xdg[0] == '/' && private_dir(xdg, false, false)) {
    base = std::string(xdg) + "/ferry";
  } else {
    base = fmt::format("/tmp/ferry-{}", ::getuid());
  }
  private_dir(base, true, true);
  std::string dir = base + "/mounts";
  private_dir(dir, true, true);
  return dir;
}

HolderPaths holder_paths(const std::string& dir, const std::string& key) {
  std::string p = dir + "/" + key;
  return {p + ".lock", p + ".sock", p + ".root"};
}

sockaddr_un socket_address(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path))
    throw Error(fmt::format("rendezvous socket path too long ({} bytes): {}; set a shorter XDG_RUNTIME_DIR",
                            path.size(), path));
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  return addr;
}

KeyLock::KeyLock(const std::string& path, bool wait) : path_(path) {
  for (;;) {
    Fd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!fd) throw_errno("open", path);
    int r;
    while ((r = ::flock(fd.get(), wait ? LOCK_EX : LOCK_EX | LOCK_NB)) != 0 && errno == EINTR) {
    }
    if (r != 0) {
      if (errno == EWOULDBLOCK) return;
      throw_errno("lock", path);
    }
    // The last holder removes the file while locked: a lock on a file no
    // longer at PATH guards nothing, so take the new one.
    struct stat held {}, now {};
    if (::fstat(fd.get(), &held) == 0 && ::lstat(path.c_str(), &now) == 0 && held.st_ino == now.st_ino &&
        held.st_dev == now.st_dev) {
      fd_ = std::move(fd);
      return;
    }
  }
}

void KeyLock::remove() {
  if (fd_) ::unlink(path_.c_str());
}

std::optional<Fd> connect_holder(const std::string& sock) {
  sockaddr_un addr = socket_address(sock);
  Fd fd(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
  if (!fd) throw_errno("socket", "mount holder");
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    if (errno == ENOENT || errno == ECONNREFUSED) return std::nullopt;
    throw_errno("connect", sock);
  }
  timeval tv{kReplyTimeoutS, 0};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

std::optional<std::string> ask_holder(int fd, std::string_view request) {
  if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) < 0) {
    if (errno == EPIPE || errno == ECONNRESET) return std::nullopt;
    throw_errno("send", "mount holder");
  }
  char buf[16384];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof buf, 0)) < 0 && errno == EINTR) {
  }
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
    throw Error(fmt::format("the mount holder did not answer within {} s (stopped?)", kReplyTimeoutS));
  if (n < 0 && errno != ECONNRESET) throw_errno("recv", "mount holder");
  if (n <= 0) return std::nullopt;
  return std::string(buf, static_cast<size_t>(n));
}

SharedMount acquire_shared_mount(const std::string& path, const std::string& name, int grace, bool directory,
                                 const std::function<std::vector<std::string>()>& points) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) throw_errno("stat", path);
  if (S_ISDIR(st.st_mode) != directory)
    throw Error(fmt::format("the image {} changed while the container started (now {})", path,
                            directory ? "not a directory" : "a directory"));
  std::string key = key_of(st);
  Target target{path, directory, st.st_dev, st.st_ino};
  HolderPaths paths = holder_paths(rendezvous_dir(), key);
  // The fast way needs no lock: a live holder answers. A holder that is
  // ending answers "closing" (or resets us) and we start the next one.
  for (int attempt = 0; attempt < 5; ++attempt) {
    if (auto m = try_attach(paths, target)) return std::move(*m);
    KeyLock lock(paths.lock, true);
    if (auto m = try_attach(paths, target)) return std::move(*m);  // started while we waited
    // Nobody listens: what is there is stale (a killed holder's).
    if (::unlink(paths.sock.c_str()) != 0 && errno != ENOENT) throw_errno("remove stale socket", paths.sock);
    if (!directory && ::mkdir(paths.root.c_str(), 0700) != 0 && errno != EEXIST) throw_errno("mkdir", paths.root);
    log::debug(fmt::format("starting the mount holder of {}", path));
    spawn_holder(key, target, name, grace, points());
    if (auto m = try_attach(paths, target)) return std::move(*m);
  }
  throw Error("could not join or start the mount holder of " + path);
}

}  // namespace ferry::runtime
