/// ContainerSpec: the one contract between "what to run" and "how to run it"
/// (ARCHITECTURE.md decision 2). It mirrors the OCI runtime-spec config.json:
/// the process (args, env, cwd, ids), the root, and an ordered list of mounts.
/// Front ends (the CLI, later Slurm and OCI bundles) fill one in; run() in
/// container.hpp consumes nothing else.
#pragma once

#include <sys/types.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ferry/core/fd.hpp"
#include "ferry/image/image.hpp"

namespace ferry::runtime {

/// A file system that ferry serves itself over FUSE at one mount (the
/// per-node cache of the hpc module). The runtime opens /dev/fuse inside the
/// container's user namespace, mounts it read-write, nosuid, nodev for the
/// user (mount_ops.hpp, mount_served) and hands the descriptor to start().
/// The process that holds the container (run, or the keeper) serves it.
class ServedFs {
 public:
  virtual ~ServedFs() = default;
  /// The file system's name: the mount is of type "fuse.NAME".
  virtual std::string name() const = 0;
  /// Starts serving fuse_fd (mounted already; ownership passes). Starts
  /// threads, so the runtime calls it only after the namespaces are entered.
  virtual void start(int fuse_fd) = 0;
};

struct Mount {
  enum class Kind {
    Bind,     ///< source: a host path, bound onto destination
    Tmpfs,    ///< a fresh private tmpfs at destination
    Content,  ///< a read-only file at destination holding `content`
    Served,   ///< a directory that `served` serves over FUSE (per-node cache)
  };
  Kind kind = Kind::Bind;
  std::string source;       ///< host path (Bind)
  std::string destination;  ///< absolute path inside the container
  std::string content;      ///< file body (Content)
  bool read_only = false;
  bool recursive = false;   ///< bind submounts too (/dev, /proc, /sys)
  bool optional = false;    ///< skip quietly when the source is missing (site defaults)
  bool device = false;      ///< keep device nodes usable (no nodev): GPU and interconnect devices
  /// A volume given by the user or a site profile (parse_volume): the only
  /// kind of mount that may replace the root (at /, or at a symlink in the
  /// image that leads there). A default that an image's symlink aims at the
  /// root is refused.
  bool volume = false;
  /// One of the defaults every container of the user gets (/tmp, home, the
  /// host's /etc files), not the working directory or a volume: a mount
  /// holder makes its mount point, when the image lacks it, in the layer
  /// its containers share, so that they need no overlay of their own.
  bool standard = false;
  std::shared_ptr<ServedFs> served = nullptr;  ///< Served: the server, shared by copies of the spec
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

/// The mounted image as an ImageInspector sees it: read-only, every path
/// resolved inside the image's root as the container will see it (an
/// absolute symlink restarts at the root, a ".." never climbs out of it).
class ImageRoot {
 public:
  virtual ~ImageRoot() = default;
  /// PATH inside the image opened O_RDONLY, or nullopt when it does not
  /// exist or is not a regular file.
  virtual std::optional<Fd> open_file(const std::string& path) = 0;
};

/// Looks at the mounted image before the mount points are planned and
/// returns binds to add (how MPI injection finds the image's own libraries:
/// docs/design/mpi.md); throws Error to refuse the container. The binds'
/// sources are opened then, after the staging tmpfs covers the host's /tmp,
/// so they must not lie under /tmp.
using ImageInspector = std::function<std::vector<Mount>(ImageRoot&)>;

/// What a device, a site profile or an HPC option adds to a container
/// (CDI's containerEdits): environment, binds (device nodes among them),
/// hooks. Front ends collect these; runtime::build_spec merges them.
struct ContainerEdits {
  std::vector<std::string> env;  ///< NAME=VALUE: over the image's and the host's, under -e
  /// Directories put first in LD_LIBRARY_PATH, ahead of what the host, the
  /// image and earlier edits left there (env files and -e still replace it).
  std::vector<std::string> library_path;
  /// Directories put first in PATH, the same way.
  std::vector<std::string> path;
  std::vector<Mount> mounts;     ///< before user volumes, which replace one at the same place
  std::vector<Hook> hooks;
  std::vector<ImageInspector> inspectors;  ///< run once the image is mounted, in order
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
  /// start one (ferry/runtime/mounts.hpp); false: a private mount. A
  /// directory: join its holder too (one user namespace for all its
  /// containers on the node, as `--mpi` wants); false: namespaces of its own.
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
  std::vector<ImageInspector> inspectors;  ///< binds found in the mounted image (ContainerEdits)
  Account account;
};

}  // namespace ferry::runtime
