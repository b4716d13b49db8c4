#include "supervise.hpp"

#include <dirent.h>
#include <poll.h>
#include <sys/signalfd.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <string>
#include <vector>

#include "ferry/core/error.hpp"
#include "ferry/core/fd.hpp"
#include "ferry/core/log.hpp"

namespace ferry::runtime {
namespace {

constexpr int kForwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};

int status_code(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return kExitFailure;
}

// Children of this process, by scanning /proc/PID/stat for our pid as PPid.
// Only runs when something is left after the command exited.
std::vector<pid_t> children_of_self() {
  std::vector<pid_t> out;
  std::string self = std::to_string(::getpid());
  DIR* d = ::opendir("/proc");
  if (d == nullptr) return out;
  while (struct dirent* e = ::readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    std::string stat;
    try {
      stat = read_file(std::string("/proc/") + e->d_name + "/stat");
    } catch (const Error&) {
      continue;  // exited meanwhile
    }
    // "pid (comm) state ppid ...": comm may hold spaces and ')'.
    auto close = stat.rfind(')');
    if (close == std::string::npos || close + 4 >= stat.size()) continue;
    auto ppid_start = stat.find(' ', close + 3);
    if (stat.compare(ppid_start + 1, self.size() + 1, self + " ") == 0)
      out.push_back(static_cast<pid_t>(std::atoi(e->d_name)));
  }
  ::closedir(d);
  return out;
}

// Kills and reaps everything the command left behind (daemons, background
// jobs): their mount namespace and FUSE server end with ferry.
void reap_strays() {
  for (int round = 0; round < 1000; ++round) {
    pid_t r;
    while ((r = ::waitpid(-1, nullptr, WNOHANG)) > 0) {
    }
    if (r < 0 && errno == ECHILD) return;
    for (pid_t p : children_of_self()) ::kill(p, SIGKILL);
    struct timespec ts {0, 1000000};
    ::nanosleep(&ts, nullptr);
  }
}

// What ferry waits for, in one place: a signal, or the hang-up of the mount
// holder's connection (-1: none). The holder never writes unasked, so any
// event on its connection is its end.
class Events {
 public:
  Events(const SignalGuard& signals, int holder_fd)
      : sigfd_(::signalfd(-1, &signals.blocked(), SFD_CLOEXEC)), holder_fd_(holder_fd) {
    if (!sigfd_) throw_errno("signalfd");
  }
  enum Kind { kSignal, kHolderGone };
  Kind next(signalfd_siginfo& info) {
    for (;;) {
      pollfd p[2] = {{sigfd_.get(), POLLIN, 0}, {holder_fd_, POLLIN | POLLRDHUP, 0}};
      if (::poll(p, holder_fd_ >= 0 ? 2 : 1, -1) < 0) continue;  // EINTR
      if (holder_fd_ >= 0 && p[1].revents != 0) {
        holder_fd_ = -1;  // said once
        return kHolderGone;
      }
      if (p[0].revents != 0 && ::read(sigfd_.get(), &info, sizeof info) == sizeof info) return kSignal;
    }
  }

 private:
  Fd sigfd_;
  int holder_fd_;
};

}  // namespace

SignalGuard::SignalGuard() {
  sigemptyset(&blocked_);
  for (int s : kForwarded) sigaddset(&blocked_, s);
  sigaddset(&blocked_, SIGCHLD);
  ::pthread_sigmask(SIG_BLOCK, &blocked_, &original_);
}

SignalGuard::~SignalGuard() { ::pthread_sigmask(SIG_SETMASK, &original_, nullptr); }

void become_subreaper() {
  if (::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) throw_errno("prctl", "PR_SET_CHILD_SUBREAPER");
}

int supervise(pid_t child, const SignalGuard& signals, int holder_fd) {
  Events events(signals, holder_fd);
  bool holder_lost = false;
  for (;;) {
    signalfd_siginfo info{};
    if (events.next(info) == Events::kHolderGone) {
      // The image is gone from under the container (its files answer
      // ENOTCONN): stop it rather than let it fail in strange ways or hang.
      holder_lost = true;
      log::error("the mount holder of this image exited (killed?); stopping the container");
      ::kill(child, SIGKILL);
      continue;
    }
    int sig = static_cast<int>(info.ssi_signo);
    if (sig == SIGCHLD) {
      int status = 0;
      pid_t pid;
      while ((pid = ::waitpid(-1, &status, WNOHANG)) > 0) {
        if (pid == child) {
          reap_strays();
          return holder_lost ? kExitFailure : status_code(status);
        }
      }
      continue;
    }
    // A signal the terminal sent (Ctrl-C, hangup) already reached the
    // command, which shares our process group; forward only the others.
    if (info.ssi_code != SI_KERNEL) ::kill(child, sig);
  }
}

int wait_until_ended(const SignalGuard& signals, int holder_fd) {
  Events events(signals, holder_fd);
  for (;;) {
    signalfd_siginfo info{};
    if (events.next(info) == Events::kHolderGone) {
      log::error("the mount holder of this image exited (killed?); the container is gone");
      return kExitFailure;
    }
    if (info.ssi_signo != SIGCHLD) return 0;
  }
}

}  // namespace ferry::runtime
