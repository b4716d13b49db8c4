/// Runs a ContainerSpec as the calling user: user+mount namespaces, the image
/// root read-only, binds, pivot_root, no new privileges, exec. ferry stays as
/// the parent: it serves the SquashFS image over FUSE, forwards signals and
/// reaps every process the container leaves behind.
#pragma once

#include "ferry/runtime/container_spec.hpp"

namespace ferry::runtime {

/// Runs the container to completion and returns what ferry should exit
/// with: the process's exit status, 128+N if it died of signal N, or
/// 125/126/127 for ferry's own failures (thrown as ferry::Error before the
/// process starts).
int run(const ContainerSpec& spec);

/// Builds the container in this process and keeps it, instead of starting
/// a command: for launchers (the Slurm plugin) whose processes enter the
/// container themselves with setns(2) into this process's user and mount
/// namespaces, where the root is the container's. Once ready, writes "ok\n"
/// then NUL-terminated fields on READY_FD: the working directory, then the
/// command's environment. Returns (0) when sent SIGTERM/SIGINT/SIGHUP, or
/// 125 if the image's mount holder goes away.
int keep(const ContainerSpec& spec, int ready_fd);

}  // namespace ferry::runtime
