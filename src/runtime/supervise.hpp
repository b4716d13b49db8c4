/// ferry as the container's parent: signals sent to ferry reach the command,
/// its exit status becomes ferry's, and no process it leaves behind survives
/// (ferry is a child subreaper, prctl(2) PR_SET_CHILD_SUBREAPER).
#pragma once

#include <signal.h>
#include <sys/types.h>

namespace ferry::runtime {

/// Blocks the forwarded signals and SIGCHLD in the calling thread (and so in
/// every thread started after it) until destroyed; remembers the old mask
/// for the container process. Create it before any thread exists.
class SignalGuard {
 public:
  SignalGuard();
  ~SignalGuard();
  SignalGuard(const SignalGuard&) = delete;
  SignalGuard& operator=(const SignalGuard&) = delete;
  const sigset_t& blocked() const { return blocked_; }
  const sigset_t& original() const { return original_; }

 private:
  sigset_t blocked_;
  sigset_t original_;
};

/// Makes ferry the reaper of orphans its container leaves (before spawning).
void become_subreaper();

/// Forwards signals to `child` until it exits, then kills and reaps every
/// other descendant. Returns the exit status, or 128+N for signal N.
/// holder_fd: the connection to the image's mount holder, or -1. If the
/// holder goes away, the container is killed and 125 returned.
int supervise(pid_t child, const SignalGuard& signals, int holder_fd = -1);

/// Waits for one of the forwarded signals (returns 0) or for the holder
/// connection to hang up (returns 125 after one line on stderr).
int wait_until_ended(const SignalGuard& signals, int holder_fd);

}  // namespace ferry::runtime
