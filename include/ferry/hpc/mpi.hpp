/// Host MPI injection (`ferry run --mpi[=PROFILE]`, docs/design/mpi.md).
/// A profile names the host's MPICH-ABI libraries; mpi_edits() resolves
/// their dependencies on the host with the loader's rules now, and returns
/// edits whose image inspector, once the image is mounted, finds the
/// image's own MPICH-ABI libraries through the image's loader cache and
/// library directories, binds the host's over them, puts the host's other
/// dependencies in /.ferry/mpi/lib, and refuses an image that has no
/// MPICH-ABI library or whose glibc is older than the host's MPI needs.
#pragma once

#include <string>
#include <vector>

#include "ferry/core/config.hpp"
#include "ferry/runtime/container_spec.hpp"

namespace ferry::hpc {

/// The directory in the container that holds the host MPI's dependencies.
inline constexpr const char* kMpiLibDir = "/.ferry/mpi/lib";

/// One host MPI, as [mpi.NAME] in ferry.toml describes it.
struct MpiProfile {
  std::string name;
  std::vector<std::string> libraries;    ///< host MPICH-ABI libraries; the first must match
  std::vector<std::string> plugin_dirs;  ///< bound at kMpiLibDir/BASENAME
  std::vector<std::string> devices;
  std::vector<std::string> env;  ///< NAME, PREFIX*, NAME=VALUE
  std::vector<std::string> mounts;
};

/// The profile NAME; "" means [mpi] default, else the built-in "mpich"
/// (Debian's MPICH). Throws a one-line Error naming an unknown profile.
MpiProfile mpi_profile(const Config& config, const std::string& name);

/// The edits for PROFILE. `image_env` is the image's Env (its
/// LD_LIBRARY_PATH is searched for the image's MPI).
/// `shared_userns`: the node's ranks share one user namespace (the image's
/// holder, SquashFS or directory, or the Slurm keeper); otherwise UCX is told not to use what
/// only works within one. Throws when a host library of the profile or one
/// of its dependencies is missing.
runtime::ContainerEdits mpi_edits(const MpiProfile& profile, const std::vector<std::string>& image_env,
                                  bool shared_userns);

}  // namespace ferry::hpc
