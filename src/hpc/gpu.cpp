// --device and --gpus: which edits a container gets, through CDI when a
// spec describes the device, else (--gpus) from the driver on the host.
#include "ferry/hpc/gpu.hpp"

#include <algorithm>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <optional>
#include <set>

#include "ferry/core/error.hpp"
#include "ferry/core/path.hpp"
#include "ferry/hpc/cdi.hpp"
#include "ferry/runtime/defaults.hpp"
#include "gpu_driver.hpp"

namespace ferry::hpc {
namespace {

constexpr const char* kGpuKind = "nvidia.com/gpu";

bool is_gpu_id(const std::string& s) {
  return (s.starts_with("GPU-") || s.starts_with("MIG-")) && s.size() > 4 && cdi::valid_device_name(s);
}

// A list of indices or of UUIDs (not both); nullopt when an item is neither.
std::optional<GpuSelection> parse_list(const std::string& value) {
  GpuSelection sel;
  for (const auto& item : split_fields(value, ',')) {
    if (auto i = gpu_index(item)) sel.indices.push_back(*i);
    else if (is_gpu_id(item)) sel.ids.push_back(item);
    else return std::nullopt;
  }
  if (sel.indices.empty() == sel.ids.empty()) return std::nullopt;
  std::sort(sel.indices.begin(), sel.indices.end());
  sel.indices.erase(std::unique(sel.indices.begin(), sel.indices.end()), sel.indices.end());
  return sel;
}

template <typename T>
std::string join(const std::vector<T>& v) {
  return fmt::format("{}", fmt::join(v, ","));
}

// The GPUs bound at /dev/nvidiaN by EDITS.
std::vector<int> bound_gpus(const runtime::ContainerEdits& edits) {
  std::set<int> out;
  for (const auto& m : edits.mounts)
    if (m.device && m.destination.starts_with("/dev/nvidia"))
      if (auto i = gpu_index(m.destination.substr(11))) out.insert(*i);
  return {out.begin(), out.end()};
}

// NVIDIA_VISIBLE_DEVICES and CUDA_VISIBLE_DEVICES inside, consistent with
// the nodes the container sees: the host's /dev (shared) plus the binds.
// HOST_NODES: gpu_nodes("/dev") when the caller has it already, else null.
std::vector<std::string> visibility_env(const GpuSelection& sel, const runtime::ContainerEdits& edits,
                                        const std::vector<int>* host_nodes) {
  if (!sel.ids.empty()) return {"NVIDIA_VISIBLE_DEVICES=" + join(sel.ids), "CUDA_VISIBLE_DEVICES=" + join(sel.ids)};
  std::vector<int> selected = bound_gpus(edits);
  if (selected.empty()) return {};
  std::vector<int> visible = host_nodes != nullptr ? *host_nodes : gpu_nodes("/dev");
  visible.insert(visible.end(), selected.begin(), selected.end());
  return {"NVIDIA_VISIBLE_DEVICES=" + join(selected), "CUDA_VISIBLE_DEVICES=" + cuda_visible_devices(visible, selected)};
}

runtime::ContainerEdits gpu_edits(const GpuSelection& sel, const std::vector<cdi::Spec>& specs,
                                  const std::vector<std::string>& dirs, const DeviceSettings& settings) {
  runtime::ContainerEdits out;
  std::optional<std::vector<int>> host_nodes;  // the host's /dev/nvidiaN, when the driver root is /
  if (cdi::has_kind(specs, kGpuKind)) {
    std::vector<std::string> names;
    if (sel.all) names.push_back(std::string(kGpuKind) + "=all");
    for (int i : sel.indices) names.push_back(fmt::format("{}={}", kGpuKind, i));
    for (const auto& id : sel.ids) names.push_back(fmt::format("{}={}", kGpuKind, id));
    out = cdi::resolve_devices(specs, names, dirs);
  } else {
    const std::string& root = settings.driver_root;
    const bool host_root = root == "/";
    std::vector<int> nodes = gpu_nodes(host_root ? "/dev" : root + "/dev");
    const bool by_index = !sel.all && sel.ids.empty();
    if (by_index)
      for (int i : sel.indices)
        if (std::find(nodes.begin(), nodes.end(), i) == nodes.end())
          throw Error(fmt::format("--gpus: GPU {}: {}/dev/nvidia{} does not exist", i, host_root ? "" : root, i));
    out = driver_edits(root, by_index ? sel.indices : nodes);
    out.library_path.push_back(kDriverLibDir);
    if (host_root) host_nodes = std::move(nodes);
  }
  auto vis = visibility_env(sel, out, host_nodes ? &*host_nodes : nullptr);
  out.env.insert(out.env.end(), vis.begin(), vis.end());
  return out;
}

}  // namespace

GpuSelection parse_gpus(const std::string& spec, const std::vector<std::string>& host_env) {
  if (spec == "all") {
    for (const char* var : {"CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES"}) {
      auto v = runtime::env_get(host_env, var);
      if (!v) continue;
      if (*v == "all") break;
      auto sel = parse_list(*v);
      if (!sel) throw Error(fmt::format("--gpus=all: {}='{}' names no GPU ferry can select", var, *v));
      return *sel;
    }
    GpuSelection all;
    all.all = true;
    return all;
  }
  auto sel = parse_list(spec);
  if (!sel) throw Error(fmt::format("--gpus '{}': expected all, GPU indices (0,1) or GPU UUIDs", spec));
  return *sel;
}

std::string cuda_visible_devices(const std::vector<int>& visible, const std::vector<int>& selected) {
  std::set<int> vis(visible.begin(), visible.end());
  std::vector<std::string> out;
  for (int s : selected) {
    auto it = vis.find(s);
    if (it != vis.end()) out.push_back(std::to_string(std::distance(vis.begin(), it)));
  }
  return join(out);
}

std::vector<runtime::ContainerEdits> device_edits(const DeviceRequest& req, const DeviceSettings& settings,
                                                  const std::vector<std::string>& host_env) {
  std::vector<runtime::ContainerEdits> out;
  if (req.devices.empty() && req.gpus.empty()) return out;
  // Parse --gpus before reading any spec: a typo is reported as such.
  std::optional<GpuSelection> sel;
  if (!req.gpus.empty()) sel = parse_gpus(req.gpus, host_env);
  std::vector<std::string> dirs = !req.cdi_spec_dirs.empty() ? req.cdi_spec_dirs
                                  : !settings.spec_dirs.empty() ? settings.spec_dirs
                                                                : cdi::default_spec_dirs();
  std::vector<std::string> names;
  runtime::ContainerEdits host_nodes;
  for (const auto& d : req.devices) {
    if (d.empty() || d[0] != '/') {
      names.push_back(d);
      continue;
    }
    // A host device node, at the same path inside (Podman's --device /dev/X).
    cdi::DeviceNode node;
    node.path = normalize_path(d);
    host_nodes.mounts.push_back(cdi::bind_device_node(node, "--device " + d));
  }
  std::vector<cdi::Spec> specs;
  if (!names.empty() || sel) specs = cdi::load_specs(dirs);
  if (!host_nodes.mounts.empty()) out.push_back(std::move(host_nodes));
  if (!names.empty()) out.push_back(cdi::resolve_devices(specs, names, dirs));
  if (sel) out.push_back(gpu_edits(*sel, specs, dirs, settings));
  return out;
}

}  // namespace ferry::hpc
