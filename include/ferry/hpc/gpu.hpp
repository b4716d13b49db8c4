/// Devices for a container: `--device` (CDI names), `--gpus` (CDI's
/// nvidia.com/gpu when a spec provides it, else the NVIDIA driver found on
/// the host, as Apptainer's --nv does). The result is runtime::ContainerEdits
/// that build_spec merges. docs/design/gpu.md says why it works this way.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ferry/runtime/container_spec.hpp"

namespace ferry::hpc {

struct DeviceRequest {
  std::vector<std::string> devices;        ///< --device: CDI names, or host device paths
  std::vector<std::string> cdi_spec_dirs;  ///< --cdi-spec-dir (replaces the configured directories)
  std::string gpus;                        ///< --gpus: "", "all", "0,2", "GPU-<uuid>,..."
};

struct DeviceSettings {
  std::vector<std::string> spec_dirs;  ///< [cdi] spec-dirs; empty: cdi::default_spec_dirs()
  std::string driver_root = "/";       ///< [gpu] driver-root
};

/// What the requested devices add. Empty when nothing was asked for.
/// HOST_ENV: the caller's environment (CUDA_VISIBLE_DEVICES for --gpus=all).
/// Throws one-line Errors (unknown device, malformed spec, no driver).
std::vector<runtime::ContainerEdits> device_edits(const DeviceRequest& req, const DeviceSettings& settings,
                                                  const std::vector<std::string>& host_env);

// --- pieces, public for the unit tests -----------------------------------

/// Which GPUs --gpus asks for. `all` with the caller's CUDA_VISIBLE_DEVICES
/// (else NVIDIA_VISIBLE_DEVICES) set means the GPUs it lists.
struct GpuSelection {
  bool all = false;
  std::vector<int> indices;  ///< GPU indices (= /dev/nvidiaN), sorted, unique
  std::vector<std::string> ids;  ///< UUIDs or MIG names the caller's variable listed
};
GpuSelection parse_gpus(const std::string& spec, const std::vector<std::string>& host_env);

/// CUDA numbers the GPUs it can see from 0: with nodes VISIBLE (/dev/nvidiaN
/// present in the container) and SELECTED among them, the value of
/// CUDA_VISIBLE_DEVICES that names the selected ones ("1" of {0,1} alone
/// bound: "0").
std::string cuda_visible_devices(const std::vector<int>& visible, const std::vector<int>& selected);

/// Whether SONAME is one of the NVIDIA driver's user-space libraries.
bool is_driver_library(std::string_view soname);

}  // namespace ferry::hpc
