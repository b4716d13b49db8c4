/// OCI createContainer hooks (runtime-spec config.md "createContainer
/// Hooks"), as CDI specs carry them (nvidia-cdi-hook update-ldcache): run
/// in the container's namespaces once its root is assembled, before
/// pivot_root, with the container's state as JSON on stdin.
#pragma once

#include <string>
#include <vector>

#include "ferry/core/fd.hpp"
#include "ferry/runtime/container_spec.hpp"

namespace ferry::runtime {

/// Opens each hook's executable (O_PATH) while the host's paths are all in
/// view: the staging tmpfs later covers /tmp. Throws naming a missing hook.
std::vector<Fd> open_hooks(const std::vector<Hook>& hooks);

class Rootfs;

/// Makes /etc (with the image's mode, when the image's /etc is a directory)
/// in LAYER, the overlay's upper layer: a directory there owned by the
/// caller is what lets a hook write /etc/ld.so.cache rootless, the image's
/// own /etc belonging to an id the user namespace does not map.
void prepare_hook_layer(Rootfs& image, const std::string& layer);

/// What a hook is told about the container.
struct HookContext {
  std::string root;     ///< the assembled root, as ferry's mount namespace sees it
  std::string bundle;   ///< an empty directory to hold config.json (in staging)
  bool read_only = true;  ///< the root after the hooks
  const Process* process = nullptr;
};

/// Runs the CreateContainer hooks in order: writes BUNDLE/config.json (root.path
/// = ROOT), then each hook with the OCI state on stdin, as the caller (ids and
/// user namespace), no new privileges. A non-zero exit, a signal or the
/// timeout fails the start with one line naming the hook.
void run_create_container_hooks(const std::vector<Hook>& hooks, const std::vector<Fd>& exes,
                                const HookContext& ctx);

}  // namespace ferry::runtime
