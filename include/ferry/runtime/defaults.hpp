/// Building a ContainerSpec the way users of Singularity and Shifter expect:
/// HPC default binds, environment precedence, working-directory rules. Shared
/// by every front end so `ferry run` and Slurm behave alike.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "ferry/image/image.hpp"
#include "ferry/runtime/container_spec.hpp"

namespace ferry::runtime {

/// What a front end asks for, before defaults are applied.
struct RunRequest {
  image::ResolvedImage image;
  std::vector<std::string> command;  ///< empty: the image's entrypoint/cmd
  bool ignore_entrypoint = false;    ///< `ferry exec`: run command as given
  std::vector<Mount> volumes;        ///< user volumes (-v)
  std::vector<std::string> env;      ///< -e NAME=VALUE, in order
  std::vector<std::string> env_files;
  bool clean_env = false;
  std::optional<std::string> workdir;  ///< -w
  bool writable_tmpfs = false;
  bool share = true;     ///< use the node's mount holder ([mounts] share, --no-share); see Root::share
  int share_grace = 60;  ///< [mounts] grace
  /// GPU devices, MPI profile, per-node caches (the hpc module), in order.
  std::vector<ContainerEdits> edits;
};

/// The calling process's environment, NAME=VALUE each.
std::vector<std::string> host_environment();

/// NAME in "NAME=VALUE".
std::string env_name(const std::string& entry);

/// The value of NAME in ENV (the first NAME=... entry), nullopt when unset.
std::optional<std::string> env_get(const std::vector<std::string>& env, const std::string& name);

/// Parses "SRC:DST[:ro|:rw]" (also "SRC" alone, meaning SRC:SRC). Throws a
/// one-line Error naming the spec on anything malformed.
Mount parse_volume(const std::string& spec);

/// A bind's destination DST, normalised; throws "WHAT: destination must be
/// an absolute path without '..'".
std::string volume_destination(const std::string& dst, const std::string& what);

/// Reads an env file: NAME=VALUE per line, '#' comments and blank lines
/// skipped, a bare NAME takes the value from `host_env`.
std::vector<std::string> read_env_file(const std::string& path,
                                       const std::vector<std::string>& host_env);

/// host env (unless clean) < image Env < edits' env (devices, MPI), then
/// the edits' library directories put first in LD_LIBRARY_PATH < env files
/// < -e, as in Apptainer.
std::vector<std::string> compose_env(const std::vector<std::string>& host_env,
                                     const RunRequest& req);

/// Docker's rule: entrypoint + (command or cmd); `exec` ignores entrypoint.
std::vector<std::string> compose_args(const RunRequest& req);

/// Fills in the whole spec for the calling user on this host.
ContainerSpec build_spec(const RunRequest& req);

/// Sorts mounts so that a parent directory is mounted before anything below
/// it; later duplicates of a destination replace earlier ones.
std::vector<Mount> order_mounts(std::vector<Mount> mounts);

}  // namespace ferry::runtime
