/// Container Device Interface (CDI) specs: the vendor's description of
/// what a device needs inside a container (device nodes, mounts,
/// environment, hooks), read from JSON or YAML files in spec directories
/// (https://github.com/cncf-tags/container-device-interface, SPEC.md).
/// Parsing is pure (this header); turning a requested device into
/// runtime::ContainerEdits checks the host (cdi_registry.cpp).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ferry/runtime/container_spec.hpp"

namespace ferry::hpc::cdi {

/// "vendor.com/class=name": a fully qualified device name.
struct QualifiedName {
  std::string vendor;  ///< "nvidia.com"
  std::string cls;     ///< "gpu"
  std::string name;    ///< "0", "all", "GPU-1234..."
  std::string kind() const { return vendor + "/" + cls; }
  std::string str() const { return kind() + "=" + name; }
};

/// Parses "vendor/class=name"; nullopt when it is not one (the kind's and
/// name's character rules as in SPEC.md "Kind" and "CDI Devices").
std::optional<QualifiedName> parse_qualified_name(std::string_view s);
bool valid_kind(std::string_view kind);
bool valid_device_name(std::string_view name);

struct DeviceNode {
  std::string path;       ///< inside the container
  std::string host_path;  ///< on the host; empty: path
  std::string type;       ///< "c", "b", "u", "p" or empty
  std::optional<int64_t> major, minor;
  std::optional<uint32_t> file_mode, uid, gid;
  std::string permissions;  ///< cgroup "rwm": not applied (no cgroup rootless)
};

struct MountEdit {
  std::string host_path;
  std::string container_path;
  std::string type;  ///< "", "bind", "none": a bind; anything else is refused
  std::vector<std::string> options;
};

struct HookEdit {
  std::string hook_name;  ///< "createContainer", ...
  std::string path;
  std::vector<std::string> args;
  std::vector<std::string> env;
  std::optional<int> timeout;
};

/// containerEdits: at the spec level (applied once when any of its
/// devices is requested) or a device's own.
struct Edits {
  std::vector<std::string> env;
  std::vector<DeviceNode> device_nodes;
  std::vector<MountEdit> mounts;
  std::vector<HookEdit> hooks;
  std::vector<uint32_t> additional_gids;  ///< not applicable rootless: ignored
  bool intel_rdt = false;                 ///< present: ignored (needs resctrl, root)
};

struct Device {
  std::string name;
  Edits edits;
};

struct Spec {
  std::string path;     ///< file it came from, for messages
  int priority = 0;     ///< index of its directory: a later directory wins
  std::string version;  ///< cdiVersion
  std::string kind;     ///< "vendor/class"
  std::vector<Device> devices;
  Edits edits;
};

/// The cdiVersion range ferry reads: 0.3.0 to 0.8.x (the released spec
/// versions with containerEdits; SPEC.md "Released versions").
bool supported_version(std::string_view version);

/// Parses one spec file's text. `path` names it in messages and picks the
/// syntax: ".json" JSON, ".yaml"/".yml" YAML (the same document model).
/// Throws a one-line Error "CDI spec PATH: what is wrong".
Spec parse_spec(std::string_view text, const std::string& path);

/// The spec directories when neither --cdi-spec-dir nor ferry.toml names
/// any: /etc/cdi, then /var/run/cdi (later directories win).
std::vector<std::string> default_spec_dirs();

/// All specs in DIRS: files ending in .json, .yaml or .yml, each directory's
/// files in name order. A directory that does not exist is skipped; a file
/// that cannot be read or parsed is an Error naming it.
std::vector<Spec> load_specs(const std::vector<std::string>& dirs);

/// What requested devices add to a container. Each name is resolved in
/// SPECS (a device in a later directory replaces one of the same name in an
/// earlier one; the same name twice in one directory is an error, as the
/// reference library has it); "=all" is every device of the kind. Device
/// nodes are bound from the host (they must exist), mounts are binds,
/// createContainer hooks run in the runtime. Throws naming the device.
runtime::ContainerEdits resolve_devices(const std::vector<Spec>& specs, const std::vector<std::string>& names,
                                        const std::vector<std::string>& dirs);

/// A bind of the host's device node D.hostPath (else D.path) at D.path,
/// kept usable (not nodev). Throws naming WHAT when the host node is
/// missing or not a device, or when D.path is under /dev (the host's,
/// shared with the container) and missing there: rootless, ferry cannot
/// add an entry to it.
runtime::Mount bind_device_node(const DeviceNode& d, const std::string& what);

/// Whether SPECS define a device of KIND ("nvidia.com/gpu").
bool has_kind(const std::vector<Spec>& specs, std::string_view kind);

}  // namespace ferry::hpc::cdi
