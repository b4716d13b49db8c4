// The Slurm relay: starting and stopping it, what the container gets, and
// the relay process's accept loop (docs/design/slurm-relay.md).
#include "ferry/hpc/slurm_relay.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "ferry/core/error.hpp"
#include "ferry/core/path.hpp"
#include "ferry/core/fd.hpp"
#include "ferry/hpc/slurm_relay_wire.h"
#include "slurm_relay_internal.hpp"

namespace ferry::hpc {
namespace {

constexpr const char* kShimName = "ferry-relay-shim";

// NAME on PATH as execvp(3) would find it: the first executable regular
// file, as an absolute path; empty when there is none.
std::string find_on_path(const std::string& name) {
  const char* path = ::getenv("PATH");
  // A relative entry would depend on the cwd: absolute_dirs skips it.
  for (const auto& dir : absolute_dirs(path != nullptr ? path : "/usr/bin:/bin")) {
    std::string file = dir + "/" + name;
    struct stat st {};
    if (::stat(file.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(file.c_str(), X_OK) == 0) return file;
  }
  return {};
}

// The shim installed beside this ferry binary: PREFIX/bin/ferry ->
// PREFIX/lib/ferry/ferry-relay-shim; in a build tree, beside the binary.
std::string find_shim() {
  char exe[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) throw_errno("readlink", "/proc/self/exe");
  std::string dir(exe, static_cast<size_t>(n));
  dir.erase(dir.rfind('/'));
  for (const std::string& p : {dir + "/../lib/ferry/" + kShimName, dir + "/" + kShimName})
    if (::access(p.c_str(), X_OK) == 0) return p;
  throw Error(fmt::format("Slurm relay: {} is not installed (looked in {}/../lib/ferry and {})", kShimName,
                          dir, dir));
}

runtime::Mount bind_mount(std::string source, std::string destination, bool read_only) {
  runtime::Mount m;
  m.source = std::move(source);
  m.destination = std::move(destination);
  m.read_only = read_only;
  return m;
}

void remove_socket(const std::string& socket, const std::string& dir) noexcept {
  ::unlink(socket.c_str());
  ::rmdir(dir.c_str());
}

}  // namespace

SlurmRelay SlurmRelay::start(const std::string& dir) {
  std::vector<RelayCommand> commands;
  for (const char* name : FERRY_RELAY_COMMANDS) {
    std::string path = find_on_path(name);
    if (!path.empty()) commands.push_back({name, path});
  }
  SlurmRelay relay;
  if (commands.empty()) return relay;
  relay.shim_ = find_shim();
  char home[PATH_MAX];
  std::string home_cwd = ::getcwd(home, sizeof home) != nullptr ? home : "/";

  // A directory only this user may enter: no one else can reach the
  // socket, whatever the socket's own mode.
  if (dir.empty() || dir[0] != '/' || dir.size() > 80)
    throw Error("--slurm-relay: '" + dir + "' is not an absolute path (80 bytes at most)");
  open_private_dir_or_throw(dir, false, "--slurm-relay directory");
  relay.dir_ = dir;
  std::string socket = relay.dir_ + "/relay.sock";
  Fd listener(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, socket.c_str(), socket.size() + 1);  // short: /tmp/ferry-relay-XXXXXX/relay.sock
  if (!listener || ::bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listener.get(), 64) != 0) {
    int err = errno;
    remove_socket(socket, relay.dir_);
    throw Error(err, "Slurm relay: listen", socket);
  }
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) {
    int err = errno;
    remove_socket(socket, relay.dir_);
    throw Error(err, "Slurm relay: fork", socket);
  }
  if (pid == 0) relay_main(listener.get(), socket, relay.dir_, commands, home_cwd, parent);
  relay.pid_ = pid;
  for (const auto& c : commands) relay.names_.push_back(c.name);
  return relay;
}

SlurmRelay::~SlurmRelay() {
  if (pid_ <= 0) return;
  // Our unreaped child, so the pid cannot name another process; the
  // keeper's user namespace does not change who may signal it (same uid).
  ::kill(pid_, SIGTERM);
  while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
  }
}

runtime::ContainerEdits SlurmRelay::edits() const {
  runtime::ContainerEdits ed;
  if (pid_ <= 0) return ed;
  ed.mounts.push_back(bind_mount(dir_, FERRY_RELAY_SOCKET_DIR, false));
  for (const auto& name : names_)
    ed.mounts.push_back(bind_mount(shim_, std::string(FERRY_RELAY_BIN_DIR) + "/" + name, true));
  ed.path.push_back(FERRY_RELAY_BIN_DIR);
  return ed;
}

// The relay process. Everything here is plain system calls: it is a fork of
// the keeper and never returns to it.
void relay_main(int listen_fd, const std::string& socket, const std::string& dir,
                const std::vector<RelayCommand>& commands, const std::string& home_cwd,
                pid_t parent) noexcept {
  // Gone with the keeper, whichever way it ends (SIGKILL included).
  ::prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (::getppid() != parent) {
    remove_socket(socket, dir);
    ::_exit(0);
  }
  ::prctl(PR_SET_NAME, "ferry-relay");
  // Nothing of the keeper's: its ready pipe must reach EOF when the keeper
  // closes it, and its stderr is slurmstepd's to close.
  int null = ::open("/dev/null", O_RDWR);
  for (int fd = 0; fd < 3; ++fd) ::dup2(null, fd);
  ::dup2(listen_fd, 3);
  ::syscall(SYS_close_range, 4U, ~0U, 0);
  listen_fd = 3;
  ::fcntl(listen_fd, F_SETFD, FD_CLOEXEC);

  sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGCHLD}) sigaddset(&set, sig);
  ::sigprocmask(SIG_BLOCK, &set, nullptr);
  int sfd = ::signalfd(-1, &set, SFD_CLOEXEC);
  ::signal(SIGPIPE, SIG_IGN);
  pid_t self = ::getpid();
  for (;;) {
    pollfd p[2] = {{listen_fd, POLLIN, 0}, {sfd, POLLIN, 0}};
    if (::poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (p[1].revents & POLLIN) {
      signalfd_siginfo info{};
      if (::read(sfd, &info, sizeof info) != static_cast<ssize_t>(sizeof info)) continue;
      if (info.ssi_signo != SIGCHLD) break;
      while (::waitpid(-1, nullptr, WNOHANG) > 0) {
      }
    }
    if (!(p[0].revents & POLLIN)) continue;
    int conn = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (conn < 0) continue;
    // Only this user: the directory already keeps others out; this says so
    // again at the door.
    ucred cred{};
    socklen_t len = sizeof cred;
    if (::getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || cred.uid != ::getuid()) {
      ::close(conn);
      continue;
    }
    pid_t pid = ::fork();
    if (pid == 0) {
      ::close(listen_fd);
      ::close(sfd);
      relay_serve(conn, commands, home_cwd, self);
    }
    ::close(conn);
  }
  // Stopped: the handlers get SIGTERM (their PR_SET_PDEATHSIG) and pass it
  // on to their commands.
  remove_socket(socket, dir);
  ::_exit(0);
}

}  // namespace ferry::hpc
