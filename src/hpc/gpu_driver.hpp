/// The NVIDIA driver found on the host (the --gpus fallback without a CDI
/// spec): internal to the hpc module.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ferry/runtime/container_spec.hpp"

namespace ferry::hpc {

/// Where the driver's libraries go inside the container, put in front of
/// LD_LIBRARY_PATH (docs/design/gpu.md says why one directory).
inline constexpr const char* kDriverLibDir = "/.ferry/nvidia/lib";

/// The host path PATH names inside ROOT, symlinks resolved within ROOT;
/// nullopt when it does not exist.
std::optional<std::string> resolve_in_root(const std::string& root, const std::string& path);

/// N of a GPU's decimal index ("3"), 0-255; nullopt for anything else.
std::optional<int> gpu_index(std::string_view s);

/// N for each character device DEV_DIR/nvidiaN.
std::vector<int> gpu_nodes(const std::string& dev_dir);

/// Binds of the driver under ROOT: control and UVM nodes, /dev/nvidiaN for
/// each of GPUS, the libraries its ld.so.cache lists, its tools. Throws one
/// line when there is no driver (no nvidiactl, no libcuda).
runtime::ContainerEdits driver_edits(const std::string& root, const std::vector<int>& gpus);

}  // namespace ferry::hpc
