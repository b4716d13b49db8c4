/// The batch step's Slurm relay directory (docs/design/slurm-relay.md), on
/// the plugin's side. Part of spank_ferry.so: plain syscalls.
///
/// The keeper's relay removes its socket and directory when it stops, but
/// at a step's end slurmstepd SIGKILLs every process of the step (its
/// proctrack plugin) before the plugin's exit callback: the keeper and the
/// relay die without a word. So the plugin makes the directory and removes
/// it itself at exit.
#pragma once

#include <string>
#include <vector>

namespace ferry_spank {

/// remote, in user_init of the batch step (slurmstepd's effective uid is
/// the user's): makes a fresh private directory (mkdtemp: 0700, the
/// user's) and returns the keeper's arguments "--slurm-relay DIR"; none
/// (the script's srun then needs a client in the image) when it cannot.
std::vector<std::string> relay_args();

/// exit: removes the directory and the socket in it, if still there
/// (through the descriptor taken when it was made: never a path the user
/// may have changed since). Idempotent.
void remove_relay_dir();

}  // namespace ferry_spank
