/// plugstack.conf `kernel-mount=yes`: slurmstepd mounts a step's SquashFS
/// image with the kernel's own driver (a read-only loop device), once per
/// node and step, and the step's `ferry container-keeper --image-root DIR`
/// uses that tree instead of starting a FUSE holder. Part of spank_ferry.so:
/// plain syscalls, nothing of ferry. docs/design/slurm-kernel-mount.md says
/// why it is off by default and what each step guards against.
///
/// The mount is the keeper's once it has built its container: the plugin
/// detaches the node's mount right after the keeper's ready (or failure),
/// so the image stays mounted exactly as long as the step's mount namespace
/// lives, and the loop device (autoclear) goes with it.
#pragma once

#include <sys/types.h>

#include <string>

extern "C" {
#include <slurm/spank.h>
}

namespace ferry_spank {

/// Parses the value of `kernel-mount=`: yes or no. Anything else: one
/// slurm_error line, false.
bool kernel_mount_arg(const std::string& value);

/// remote, in user_init, with slurmstepd's credentials there (real uid
/// root, effective uid the user's): when kernel-mount=yes and IMAGE is a
/// SquashFS file, opens it as the user and mounts it in a root child.
/// 0 when mounted, when IMAGE is not a SquashFS file (the keeper handles
/// it), or when the kernel cannot mount here (one slurm_info line; the FUSE
/// holder serves the step). -1, with one slurm_error line, when the user
/// may not read IMAGE or the kernel rejects it.
int kernel_mount(spank_t sp, const std::string& image, uid_t uid);

/// The mounted image tree, for the keeper's --image-root; empty when none.
const std::string& kernel_mount_root();

/// Detaches the node's mount and removes its directories (idempotent).
/// The keeper's copy, if it took one, lives on with the step.
void kernel_unmount();

}  // namespace ferry_spank
