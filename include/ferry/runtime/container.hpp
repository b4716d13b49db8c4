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

}  // namespace ferry::runtime
