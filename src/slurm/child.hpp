/// Running the ferry binary from the plugin (spank_ferry.cpp), and reading
/// what it says. Part of spank_ferry.so: plain syscalls. In slurmstepd the
/// child may run the user's code (the job's environment: LD_PRELOAD), and
/// slurmstepd is root: what it reads from one is bounded.
#pragma once

#include <sys/types.h>

#include <string>
#include <utility>
#include <vector>

namespace ferry_spank {

/// A started child: its pid, and the read ends of its output pipes.
struct Child {
  pid_t pid = -1;
  int out = -1;  ///< its fd 1 (resolve-image) or 3 (the keeper's ready fd)
  int err = -1;  ///< its fd 2
};

/// Runs FERRY with ARGS and ENV (the job's, or ours when null), the
/// NAME=VALUE entries of SET in place of theirs, as UID/GID when uid != -1
/// (from slurmstepd, whose real uid is root and effective uid the user's),
/// its OUT_FD and stderr on pipes, no other descriptor of ours. pid -1 (and
/// errno) when it cannot.
Child start_ferry(const std::string& ferry, const std::vector<std::string>& args, char** env, uid_t uid, gid_t gid,
                  int out_fd, const std::vector<std::string>& set);

/// At most this much is read from a child (the keeper's ready message
/// carries the container's environment, which exec allows up to 6 MiB).
constexpr size_t kMaxChildOutput = 8 << 20;

/// Reads FD to EOF, at most kMaxChildOutput bytes, for at most TIMEOUT_MS
/// in all. WHOLE, when given, says whether it read to EOF.
std::string read_all(int fd, int timeout_ms, bool* whole = nullptr);

/// Reads OUT and ERR together to their ends (each at most
/// kMaxChildOutput; what is past it is read and dropped), so that a child
/// filling one pipe while we wait on the other cannot stall us both.
std::pair<std::string, std::string> read_both(int out, int err);

/// S without trailing newlines and spaces.
std::string trim(std::string s);

}  // namespace ferry_spank
