// One connection of the Slurm relay: the shim's request, the host command,
// signals, the wait status (docs/design/slurm-relay.md).
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

#include "ferry/hpc/slurm_relay_wire.h"
#include "ferry/runtime/defaults.hpp"
#include "slurm_relay_internal.hpp"

namespace ferry::hpc {
namespace {

bool from_host(const std::string& entry) {
  std::string name = runtime::env_name(entry);
  return name == "PATH" || name.rfind("LD_", 0) == 0 || name == "GCONV_PATH" || name == "LOCPATH" ||
         name == "NLSPATH";
}

bool read_full(int fd, void* data, size_t n) {
  char* p = static_cast<char*>(data);
  while (n > 0) {
    ssize_t r = ::read(fd, p, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

void reply(int conn, FerryRelayReplyKind kind, int value, const std::string& message = {}) {
  std::string out(sizeof(FerryRelayReply), '\0');
  FerryRelayReply r{static_cast<uint32_t>(kind), value,
                    static_cast<uint32_t>(std::min<size_t>(message.size(), FERRY_RELAY_MAX_MESSAGE))};
  std::memcpy(out.data(), &r, sizeof r);
  out.append(message, 0, r.length);
  for (size_t done = 0; done < out.size();) {  // the shim may be gone: then nobody is told
    ssize_t n = ::send(conn, out.data() + done, out.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    done += static_cast<size_t>(n);
  }
}

[[noreturn]] void fail(int conn, int status, const std::string& message) {
  reply(conn, kFerryRelayError, status, message);
  ::_exit(0);
}

// The header and the shim's fds 0, 1, 2; false on anything else.
bool receive_header(int conn, FerryRelayRequest& header, int (&fds)[3]) {
  union {
    char buf[CMSG_SPACE(sizeof(int) * 3)];
    cmsghdr align;
  } control{};
  iovec iov{&header, sizeof header};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.buf;
  msg.msg_controllen = sizeof control.buf;
  ssize_t n;
  do n = ::recvmsg(conn, &msg, MSG_CMSG_CLOEXEC | MSG_WAITALL);
  while (n < 0 && errno == EINTR);
  int got = 0;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      if (got < 3)
        fds[got++] = fd;
      else
        ::close(fd);
    }
  }
  return n == static_cast<ssize_t>(sizeof header) && !(msg.msg_flags & (MSG_CTRUNC | MSG_TRUNC)) && got == 3;
}

std::vector<char*> c_strings(std::vector<std::string>& v) {
  std::vector<char*> out;
  for (auto& s : v) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// The command, in a child: the shim's stdio, the environment, the working
// directory; exec errors go back on ERR_FD (CLOEXEC) as an errno.
[[noreturn]] void exec_command(const std::string& path, RelayRequest& req, const int (&fds)[3],
                               const std::string& cwd, int err_fd) {
  for (int i = 0; i < 3; ++i) ::dup2(fds[i], i);
  ::dup2(err_fd, 3);
  ::syscall(SYS_close_range, 4U, ~0U, 0);
  ::fcntl(3, F_SETFD, FD_CLOEXEC);
  ::prctl(PR_SET_PDEATHSIG, SIGTERM);                           // the handler killed: so is the command
  for (int sig = 1; sig < NSIG; ++sig) ::signal(sig, SIG_DFL);  // SIGPIPE was ignored
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  int err = 0;
  if (::chdir(cwd.c_str()) != 0) err = errno;
  if (err == 0) {
    std::vector<std::string> argv{req.name};
    argv.insert(argv.end(), req.args.begin(), req.args.end());
    auto av = c_strings(argv);
    auto ev = c_strings(req.env);
    ::execve(path.c_str(), av.data(), ev.data());
    err = errno;
  }
  (void)!::write(3, &err, sizeof err);
  ::_exit(127);
}

}  // namespace

bool relay_header_ok(const FerryRelayRequest& h) {
  return h.magic == FERRY_RELAY_MAGIC && h.length <= FERRY_RELAY_MAX_LENGTH &&
         uint64_t{h.argc} + h.envc + 2 <= FERRY_RELAY_MAX_STRINGS;
}

std::optional<RelayRequest> parse_relay_request(const FerryRelayRequest& h, const std::string& strings) {
  if (!relay_header_ok(h) || strings.size() != h.length || (!strings.empty() && strings.back() != '\0'))
    return std::nullopt;
  std::vector<std::string> all;
  for (size_t start = 0; start < strings.size();) {
    size_t end = strings.find('\0', start);
    all.emplace_back(strings, start, end - start);
    start = end + 1;
  }
  if (all.size() != uint64_t{h.argc} + h.envc + 2) return std::nullopt;
  RelayRequest r;
  r.name = all[0];
  r.cwd = all[1];
  r.args.assign(all.begin() + 2, all.begin() + 2 + h.argc);
  r.env.assign(all.begin() + 2 + h.argc, all.end());
  return r;
}

std::vector<std::string> relay_environment(const std::vector<std::string>& received,
                                           const std::vector<std::string>& own) {
  std::vector<std::string> env;
  for (const auto& e : received)
    if (!from_host(e)) env.push_back(e);
  for (const auto& e : own)
    if (from_host(e)) env.push_back(e);
  return env;
}

void relay_serve(int conn, const std::vector<RelayCommand>& commands, const std::string& home_cwd,
                 pid_t relay) noexcept {
  ::prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (::getppid() != relay) ::_exit(0);
  // Until the command runs, SIGTERM simply ends this handler.
  sigset_t term;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  ::sigprocmask(SIG_UNBLOCK, &term, nullptr);

  FerryRelayRequest header{};
  int fds[3] = {-1, -1, -1};
  if (!receive_header(conn, header, fds) || !relay_header_ok(header)) ::_exit(0);
  std::string strings(header.length, '\0');
  if (!read_full(conn, strings.data(), strings.size())) ::_exit(0);
  auto req = parse_relay_request(header, strings);
  if (!req) fail(conn, 125, "the Slurm relay got a malformed request");
  auto cmd = std::find_if(commands.begin(), commands.end(),
                          [&](const RelayCommand& c) { return c.name == req->name; });
  if (cmd == commands.end()) {
    std::string found;
    for (const auto& c : commands) found += (found.empty() ? "" : ", ") + c.name;
    fail(conn, 127, "'" + req->name + "' is not relayed to the host (" + found + ")");
  }
  req->env = relay_environment(req->env, runtime::host_environment());
  // The container's working directory where the host has it (a bind of
  // the same path), else the job's.
  struct stat st {};
  std::string cwd =
      !req->cwd.empty() && req->cwd[0] == '/' && ::stat(req->cwd.c_str(), &st) == 0 && S_ISDIR(st.st_mode)
          ? req->cwd
          : home_cwd;

  sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGCHLD}) sigaddset(&set, sig);
  ::sigprocmask(SIG_BLOCK, &set, nullptr);
  int sfd = ::signalfd(-1, &set, SFD_CLOEXEC);
  int errpipe[2];
  if (sfd < 0 || ::pipe2(errpipe, O_CLOEXEC) != 0)
    fail(conn, 125, "Slurm relay: " + std::string(std::strerror(errno)));
  pid_t pid = ::fork();
  if (pid == 0) exec_command(cmd->path, *req, fds, cwd, errpipe[1]);
  ::close(errpipe[1]);
  for (int fd : fds) ::close(fd);
  if (pid < 0) fail(conn, 125, "Slurm relay: fork: " + std::string(std::strerror(errno)));
  int err = 0;
  if (read_full(errpipe[0], &err, sizeof err)) {
    ::waitpid(pid, nullptr, 0);
    fail(conn, err == ENOENT ? 127 : 126,
         "Slurm relay: cannot run " + cmd->path + " in " + cwd + ": " + std::strerror(err));
  }
  ::close(errpipe[0]);

  static const int kForwarded[] = FERRY_RELAY_SIGNALS;
  bool shim_gone = false;
  std::string pending;  // a signal number split across reads
  for (;;) {
    pollfd p[2] = {{sfd, POLLIN, 0}, {conn, POLLIN, 0}};
    if (::poll(p, shim_gone ? 1 : 2, -1) < 0) continue;
    if (p[0].revents & POLLIN) {
      signalfd_siginfo info{};
      if (::read(sfd, &info, sizeof info) == static_cast<ssize_t>(sizeof info) && info.ssi_signo != SIGCHLD)
        ::kill(pid, SIGTERM);  // the relay is stopping: so does the command
      int status = 0;
      if (::waitpid(pid, &status, WNOHANG) == pid) {
        reply(conn, kFerryRelayExited, status);
        ::_exit(0);
      }
    }
    if (shim_gone || !(p[1].revents & (POLLIN | POLLHUP | POLLERR))) continue;
    char buf[64];
    ssize_t n = ::read(conn, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {  // the shim was killed: its command goes too
      shim_gone = true;
      ::kill(pid, SIGTERM);
      continue;
    }
    pending.append(buf, static_cast<size_t>(n));
    for (; pending.size() >= sizeof(uint32_t); pending.erase(0, sizeof(uint32_t))) {
      uint32_t sig;
      std::memcpy(&sig, pending.data(), sizeof sig);
      if (std::find(std::begin(kForwarded), std::end(kForwarded), static_cast<int>(sig)) !=
          std::end(kForwarded))
        ::kill(pid, static_cast<int>(sig));
    }
  }
}

}  // namespace ferry::hpc
