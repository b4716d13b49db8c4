/// Starting the container process: everything the child needs is prepared
/// before clone(2), because the child shares ferry's memory (CLONE_VM |
/// CLONE_VFORK, as posix_spawn does) and may only make system calls. Errors in
/// the child travel back as an {errno, stage} record over a CLOEXEC pipe
/// (STYLE.md 12); the parent turns them into ferry::Error with 125/126/127.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <string>
#include <vector>

namespace ferry::runtime {

struct ExecRequest {
  std::vector<std::string> args;
  std::vector<std::string> env;
  std::string cwd;
  sigset_t child_mask;  ///< signal mask the command starts with
};

/// Starts the command and returns its pid once it has exec'd. Throws Error
/// (127 not found, 126 not executable, 125 otherwise) when it could not.
pid_t spawn(const ExecRequest& req);

}  // namespace ferry::runtime
