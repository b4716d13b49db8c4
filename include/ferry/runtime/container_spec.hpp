/// ContainerSpec: the one contract between "what to run" and "how to run it"
/// (ARCHITECTURE.md decision 2). It mirrors the OCI runtime-spec config.json:
/// the process (args, env, cwd, ids), the root, and an ordered list of mounts.
/// Front ends (the CLI, later Slurm and OCI bundles) fill one in; run() in
/// container.hpp consumes nothing else.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "ferry/image/image.hpp"

namespace ferry::runtime {

struct Mount {
  enum class Kind {
    Bind,     ///< source: a host path, bound onto destination
    Tmpfs,    ///< a fresh private tmpfs at destination
    Content,  ///< a read-only file at destination holding `content`
  };
  Kind kind = Kind::Bind;
  std::string source;       ///< host path (Bind)
  std::string destination;  ///< absolute path inside the container
  std::string content;      ///< file body (Content)
  bool read_only = false;
  bool recursive = false;   ///< bind submounts too (/dev, /proc, /sys)
  bool optional = false;    ///< skip quietly when the source is missing (site defaults)
  bool device = false;      ///< keep device nodes usable (no nodev): GPU and interconnect devices
};

/// A program run while the container is assembled, as OCI runtime-spec
/// hooks and CDI's containerEdits.hooks define it: path on the host, argv,
/// environment, and the container's state as JSON on stdin.
struct Hook {
  enum class When {
    CreateContainer,  ///< in the container's namespaces, its root assembled, before pivot_root
  };
  When when = When::CreateContainer;
  std::string path;
  std::vector<std::string> args;  ///< argv, args[0] included (OCI); empty: {path}
  std::vector<std::string> env;   ///< "NAME=VALUE"; the hook's whole environment
  int timeout = 0;                ///< seconds; 0: no limit
};

/// What a device, a site profile or an HPC option adds to a container
/// (CDI's containerEdits): environment, binds (device nodes among them),
/// hooks. Front ends collect these; runtime::build_spec merges them.
struct ContainerEdits {
  std::vector<std::string> env;  ///< NAME=VALUE: over the image's and the host's, under -e
  std::vector<Mount> mounts;     ///< before user volumes, which replace one at the same place
  std::vector<Hook> hooks;
};

struct Process {
  std::vector<std::string> args;  ///< argv; args[0] looked up in the container's PATH
  std::vector<std::string> env;   ///< "NAME=VALUE", final, in order
  /// Working directories to try in order; the first that exists inside the
  /// container wins (caller's cwd, then the image's WorkingDir, then "/").
  std::vector<std::string> cwd_candidates;
  bool cwd_required = false;  ///< --workdir: the first candidate must exist
  uid_t uid = 0;
  gid_t gid = 0;
};

struct Root {
  std::string path;  ///< host path of the directory or SquashFS file
  image::Format format = image::Format::Directory;
  bool writable_tmpfs = false;  ///< overlay a tmpfs: writes land there, vanish at exit
  /// SquashFS: join this user's mount holder of the image on this node, or
  /// start one (ferry/runtime/mounts.hpp); false: a private mount.
  bool share = true;
  int share_grace = 60;  ///< seconds a holder this container starts lingers once idle
  std::string name;      ///< the image as the user named it, for `ferry mounts`
};

/// The caller's account, merged into the image's /etc/passwd and /etc/group.
struct Account {
  std::string passwd_line;               ///< "name:x:uid:gid:gecos:home:shell"
  std::vector<std::string> group_lines;  ///< "name:x:gid:" for each of the user's groups
};

struct ContainerSpec {
  Process process;
  Root root;
  std::vector<Mount> mounts;  ///< applied parents first (see runtime::order_mounts)
  std::vector<Hook> hooks;    ///< in order, each at its When
  Account account;
};

}  // namespace ferry::runtime
