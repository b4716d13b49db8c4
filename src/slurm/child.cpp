#include "child.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

namespace ferry_spank {

Child start_ferry(const std::string& ferry, const std::vector<std::string>& args, char** env, uid_t uid, gid_t gid,
                  int out_fd, const std::vector<std::string>& set) {
  std::vector<char*> envp;
  auto overridden = [&](const char* e) {
    for (const auto& s : set)
      if (std::strncmp(e, s.c_str(), s.find('=') + 1) == 0) return true;
    return false;
  };
  for (char** e = env != nullptr ? env : environ; *e != nullptr; ++e)
    if (!overridden(*e)) envp.push_back(*e);
  for (const auto& s : set) envp.push_back(const_cast<char*>(s.c_str()));
  envp.push_back(nullptr);
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(ferry.c_str()));
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const std::string cannot = "ferry: cannot run " + ferry + ": ";  // made before fork: no malloc after it
  int o[2], e[2];
  if (::pipe2(o, O_CLOEXEC) != 0) return {};
  if (::pipe2(e, O_CLOEXEC) != 0) {
    ::close(o[0]), ::close(o[1]);
    return {};
  }
  pid_t pid = ::fork();
  if (pid == 0) {
    if (uid != static_cast<uid_t>(-1) && (::setresgid(gid, gid, gid) != 0 || ::setresuid(uid, uid, uid) != 0))
      ::_exit(126);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    int null = ::open("/dev/null", O_RDWR);
    ::dup2(null, 0);
    if (out_fd != 1) ::dup2(null, 1);
    ::dup2(o[1], out_fd);
    ::dup2(e[1], 2);
    // slurmstepd's descriptors stay out of the user's process; before
    // close_range (Linux 5.9), one by one.
    int first = out_fd == 3 ? 4 : 3;
    if (::syscall(SYS_close_range, static_cast<unsigned>(first), ~0U, 0) != 0)
      for (int fd = first, max = static_cast<int>(::sysconf(_SC_OPEN_MAX)); fd < max; ++fd) ::close(fd);
    ::execve(argv[0], argv.data(), envp.data());
    const char* why = ::strerrordesc_np(errno);  // no locale, no lock: safe after fork
    if (why == nullptr) why = "error";
    (void)!::write(2, cannot.data(), cannot.size());
    (void)!::write(2, why, std::strlen(why));
    ::_exit(127);
  }
  ::close(o[1]), ::close(e[1]);
  if (pid < 0) {
    ::close(o[0]), ::close(e[0]);
    return {};
  }
  return {pid, o[0], e[0]};
}

std::string read_all(int fd, int timeout_ms, bool* whole) {
  using Clock = std::chrono::steady_clock;
  auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  std::string out;
  char buf[4096];
  bool eof = false;
  while (out.size() < kMaxChildOutput) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) break;
    pollfd p{fd, POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(left));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    ssize_t n = ::read(fd, buf, std::min(sizeof buf, kMaxChildOutput - out.size()));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      eof = n == 0;
      break;
    }
    out.append(buf, static_cast<size_t>(n));
  }
  if (whole != nullptr) *whole = eof;
  return out;
}

std::pair<std::string, std::string> read_both(int out, int err) {
  std::pair<std::string, std::string> got;
  pollfd p[2] = {{out, POLLIN, 0}, {err, POLLIN, 0}};
  std::string* into[2] = {&got.first, &got.second};
  char buf[4096];
  while (p[0].fd >= 0 || p[1].fd >= 0) {
    int r = ::poll(p, 2, -1);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) break;
    for (int i = 0; i < 2; ++i) {
      if (p[i].fd < 0 || p[i].revents == 0) continue;
      ssize_t n = ::read(p[i].fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        p[i].fd = -1;  // poll skips negative descriptors
        continue;
      }
      std::string& s = *into[i];
      s.append(buf, std::min(static_cast<size_t>(n), kMaxChildOutput - s.size()));  // never past it
    }
  }
  return got;
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace ferry_spank
