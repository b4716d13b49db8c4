/// The Slurm relay of a containerised batch script (docs/design/slurm-relay.md):
/// `srun` inside `#SBATCH --container-image` runs the host's srun.
///
/// The batch step's container keeper (`ferry container-keeper
/// --slurm-relay`) starts a SlurmRelay before it enters any namespace: a
/// child process that stays on the host, as the user, listening on a Unix
/// socket in a fresh private directory. edits() binds that directory at
/// /.ferry/slurm and a static shim at /.ferry/bin/NAME for each Slurm client
/// command found on the host's PATH, and puts /.ferry/bin first in PATH.
/// The shim hands the relay its name, arguments, environment, working
/// directory and stdio; the relay runs the host's command of that name and
/// nothing else, and sends back its wait status.
///
/// The SlurmRelay owns the process: its destructor stops and reaps it (and
/// the relay removes its directory); the relay also dies with the keeper
/// (PR_SET_PDEATHSIG).
#pragma once

#include <sys/types.h>

#include <string>
#include <utility>
#include <vector>

#include "ferry/runtime/container_spec.hpp"

namespace ferry::hpc {

class SlurmRelay {
 public:
  /// Resolves the Slurm client commands (srun, sbatch, scancel, squeue,
  /// sinfo, scontrol, sacct, sstat) on this process's PATH, listens on
  /// DIR/relay.sock and forks the relay. DIR: an empty directory of this
  /// user's, mode 0700 (the plugin makes it, and removes it at the step's
  /// end even when the relay was killed). Call it while the process is
  /// single-threaded and in the host's namespaces. No command found: an
  /// inactive relay (no process, no edits). Throws a one-line Error when
  /// DIR is not such a directory, the shim is not installed beside the
  /// ferry binary or the socket cannot be made.
  static SlurmRelay start(const std::string& dir);

  SlurmRelay() = default;
  SlurmRelay(SlurmRelay&& o) noexcept
      : pid_(std::exchange(o.pid_, -1)),
        dir_(std::move(o.dir_)),
        shim_(std::move(o.shim_)),
        names_(std::move(o.names_)) {}
  SlurmRelay& operator=(SlurmRelay&&) = delete;
  SlurmRelay(const SlurmRelay&) = delete;
  SlurmRelay& operator=(const SlurmRelay&) = delete;
  /// Stops the relay (SIGTERM) and reaps it.
  ~SlurmRelay();

  /// The binds (socket directory, one shim per command), and /.ferry/bin
  /// put first in the container's PATH.
  runtime::ContainerEdits edits() const;

  /// The commands relayed (those found on the host), by name.
  const std::vector<std::string>& commands() const noexcept { return names_; }

 private:
  pid_t pid_ = -1;  // our child, unreaped until the destructor: the pid stays its own
  std::string dir_;   // the socket's directory on the host
  std::string shim_;  // the shim binary on the host
  std::vector<std::string> names_;
};

}  // namespace ferry::hpc
