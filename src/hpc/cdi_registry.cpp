// CDI spec directories and device resolution: from requested names to the
// binds, environment and hooks a container gets (SPEC.md "OCI Edits").
// Rootless, a device node is not made (mknod needs CAP_MKNOD in the initial
// user namespace): the host's node is bound, keeping it usable (not nodev).
#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <set>

#include "ferry/core/error.hpp"
#include "ferry/core/fd.hpp"
#include "ferry/core/log.hpp"
#include "ferry/core/path.hpp"
#include "ferry/hpc/cdi.hpp"

namespace ferry::hpc::cdi {
namespace {

bool spec_file_name(const std::string& name) {
  auto ends = [&](std::string_view s) { return name.size() > s.size() && name.ends_with(s); };
  return ends(".json") || ends(".yaml") || ends(".yml");
}

// A container path: absolute, no "..", normalised.
std::string container_path(const std::string& path, const std::string& what) {
  if (path.empty() || path[0] != '/' || has_dotdot(path))
    throw Error(fmt::format("{}: container path '{}' must be absolute, without '..'", what, path));
  return normalize_path(path);
}

}  // namespace

runtime::Mount bind_device_node(const DeviceNode& d, const std::string& what) {
  std::string dst = container_path(d.path, what);
  std::string src = d.host_path.empty() ? dst : d.host_path;
  if (src[0] != '/') throw Error(fmt::format("{}: device node host path '{}' must be absolute", what, src));
  struct stat st {};
  if (::stat(src.c_str(), &st) != 0) {
    if (errno == ENOENT) throw Error(fmt::format("{}: device node {} does not exist", what, src));
    throw_errno("stat device node", src);
  }
  if (!S_ISCHR(st.st_mode) && !S_ISBLK(st.st_mode))
    throw Error(fmt::format("{}: {} is not a device node", what, src));
  // The container shares the host's /dev: a node the host's /dev lacks has
  // no place to be bound on, and ferry cannot add one rootless.
  if (path_within(dst, "/dev") && ::lstat(dst.c_str(), &st) != 0)
    throw Error(fmt::format("{}: {} is missing from this host's /dev, which the container shares", what, dst));
  runtime::Mount m;
  m.source = src;
  m.destination = dst;
  m.device = true;
  return m;
}

namespace {

runtime::Mount mount_bind(const MountEdit& me, const std::string& what) {
  bool has_bind = false, ro = false, rbind = false;
  for (const auto& o : me.options) {
    has_bind = has_bind || o == "bind" || o == "rbind";
    rbind = rbind || o == "rbind";
    ro = ro || o == "ro";
  }
  if (!me.type.empty() && me.type != "bind" && me.type != "rbind" && me.type != "none" && !has_bind)
    throw Error(fmt::format("{}: mount of type '{}' at {} is not supported (ferry applies bind mounts)", what,
                            me.type, me.container_path));
  if (me.host_path.empty() || me.host_path[0] != '/')
    throw Error(fmt::format("{}: mount host path '{}' must be absolute", what, me.host_path));
  struct stat st {};
  if (::stat(me.host_path.c_str(), &st) != 0)
    throw Error(fmt::format("{}: mount source {} does not exist", what, me.host_path));
  runtime::Mount m;
  m.source = me.host_path;
  m.destination = container_path(me.container_path, what);
  m.read_only = ro;
  m.recursive = rbind;
  return m;
}

runtime::Hook hook(const HookEdit& h, const std::string& what) {
  if (h.hook_name != "createContainer")
    throw Error(fmt::format("{}: hook '{}' ({}) is not supported: ferry runs createContainer hooks", what,
                            h.hook_name, h.path));
  runtime::Hook out;
  out.when = runtime::Hook::When::CreateContainer;
  out.path = h.path;
  out.args = h.args.empty() ? std::vector<std::string>{h.path} : h.args;
  out.env = h.env;
  out.timeout = h.timeout.value_or(0);
  return out;
}

void apply(const Edits& e, const std::string& what, runtime::ContainerEdits& out) {
  out.env.insert(out.env.end(), e.env.begin(), e.env.end());
  for (const auto& d : e.device_nodes) out.mounts.push_back(bind_device_node(d, what));
  for (const auto& m : e.mounts) out.mounts.push_back(mount_bind(m, what));
  for (const auto& h : e.hooks) out.hooks.push_back(hook(h, what));
  if (!e.additional_gids.empty())
    log::debug(fmt::format("{}: additionalGIDs ignored: a rootless container has only the caller's groups", what));
  if (e.intel_rdt) log::debug(fmt::format("{}: intelRdt ignored: resctrl needs root", what));
}

struct Found {
  const Spec* spec;
  const Device* device;
};

// The definition of NAME in KIND that wins: the highest directory priority;
// two at that priority is a conflict.
std::optional<Found> find_device(const std::vector<Spec>& specs, const std::string& kind, const std::string& name,
                                 const std::string& what) {
  std::optional<Found> best;
  for (const auto& s : specs) {
    if (s.kind != kind) continue;
    for (const auto& d : s.devices) {
      if (d.name != name) continue;
      if (best && best->spec->priority == s.priority)
        throw Error(fmt::format("{}: defined in both {} and {}", what, best->spec->path, s.path));
      if (!best || s.priority > best->spec->priority) best = Found{&s, &d};
    }
  }
  return best;
}

std::vector<std::string> device_names(const std::vector<Spec>& specs, const std::string& kind) {
  std::set<std::string> names;
  for (const auto& s : specs)
    if (s.kind == kind)
      for (const auto& d : s.devices) names.insert(d.name);
  return {names.begin(), names.end()};
}

}  // namespace

std::vector<std::string> default_spec_dirs() { return {"/etc/cdi", "/var/run/cdi"}; }

std::vector<Spec> load_specs(const std::vector<std::string>& dirs) {
  std::vector<Spec> specs;
  for (size_t i = 0; i < dirs.size(); ++i) {
    DIR* dir = ::opendir(dirs[i].c_str());
    if (dir == nullptr) {
      if (errno == ENOENT || errno == ENOTDIR) continue;
      throw_errno("open CDI spec directory", dirs[i]);
    }
    std::vector<std::string> files;
    while (struct dirent* e = ::readdir(dir))
      if (spec_file_name(e->d_name)) files.push_back(dirs[i] + "/" + e->d_name);
    ::closedir(dir);
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
      std::string text;
      try {
        text = read_file(f);
      } catch (Error& e) {
        throw e.context("CDI spec " + f);
      }
      specs.push_back(parse_spec(text, f));
      specs.back().priority = static_cast<int>(i);
    }
  }
  return specs;
}

bool has_kind(const std::vector<Spec>& specs, std::string_view kind) {
  return std::any_of(specs.begin(), specs.end(), [&](const Spec& s) { return s.kind == kind; });
}

runtime::ContainerEdits resolve_devices(const std::vector<Spec>& specs, const std::vector<std::string>& names,
                                        const std::vector<std::string>& dirs) {
  runtime::ContainerEdits out;
  std::set<const Spec*> spec_edits_done;
  std::set<const Device*> devices_done;
  auto add = [&](const Found& f, const std::string& what) {
    if (spec_edits_done.insert(f.spec).second) apply(f.spec->edits, what, out);
    if (devices_done.insert(f.device).second) apply(f.device->edits, what, out);
  };
  for (const auto& n : names) {
    auto q = parse_qualified_name(n);
    if (!q) throw Error(fmt::format("--device {}: not a CDI device name (vendor.com/class=name)", n));
    std::string what = "CDI device " + q->str();
    if (!has_kind(specs, q->kind()))
      throw Error(fmt::format("{}: no CDI spec for {} in {}", what, q->kind(), fmt::join(dirs, ", ")));
    if (auto f = find_device(specs, q->kind(), q->name, what)) {
      add(*f, what);
      continue;
    }
    auto all = device_names(specs, q->kind());
    if (q->name != "all")
      throw Error(fmt::format("{}: no such device (the specs for {} define {})", what, q->kind(), fmt::join(all, ", ")));
    // "=all" without a device of that name: every device of the kind.
    for (const auto& name : all) add(*find_device(specs, q->kind(), name, what), what);
  }
  return out;
}

}  // namespace ferry::hpc::cdi
