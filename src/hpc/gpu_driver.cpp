// The NVIDIA driver on the host, without a CDI spec (Apptainer's --nv):
// device nodes, the user-space libraries the host's loader cache lists, and
// the driver's tools. Everything is found under a driver root ([gpu]
// driver-root, "/" by default) and resolved inside it.
#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <array>
#include <cerrno>
#include <climits>
#include <cstring>
#include <fmt/format.h>
#include <string_view>

#include "ferry/core/error.hpp"
#include "ferry/core/fd.hpp"
#include "ferry/core/path.hpp"
#include "ferry/hpc/cdi.hpp"
#include "ferry/hpc/gpu.hpp"
#include "gpu_driver.hpp"
#include "ld_cache.hpp"

namespace ferry::hpc {
namespace {

// The driver's libraries, as Apptainer's nvliblist.conf and the NVIDIA
// container toolkit list them, less the vendor-neutral GL dispatch libraries
// (libGL, libEGL, libGLX, libOpenCL) that the image brings itself.
constexpr std::array kDriverLibs = {
    "libcuda",           "libcudadebugger",       "libnvcuvid",          "libnvidia-allocator",
    "libnvidia-cbl",     "libnvidia-cfg",         "libnvidia-compiler",  "libnvidia-eglcore",
    "libnvidia-encode",  "libnvidia-fatbinaryloader", "libnvidia-fbc",   "libnvidia-glcore",
    "libnvidia-glsi",    "libnvidia-glvkspirv",   "libnvidia-gpucomp",   "libnvidia-ifr",
    "libnvidia-ml",      "libnvidia-nscq",        "libnvidia-nvvm",      "libnvidia-opencl",
    "libnvidia-opticalflow", "libnvidia-pkcs11",  "libnvidia-pkcs11-openssl3", "libnvidia-ptxjitcompiler",
    "libnvidia-rtcore",  "libnvidia-tls",         "libnvoptix",          "libEGL_nvidia",
    "libGLESv1_CM_nvidia", "libGLESv2_nvidia",    "libGLX_nvidia",       "libvdpau_nvidia",
};

constexpr std::array kDriverBins = {"nvidia-smi", "nvidia-debugdump", "nvidia-persistenced",
                                    "nvidia-cuda-mps-control", "nvidia-cuda-mps-server"};

std::string under(const std::string& root, const std::string& path) {
  return root == "/" ? path : root + path;
}

}  // namespace

bool is_driver_library(std::string_view soname) {
  return std::any_of(kDriverLibs.begin(), kDriverLibs.end(), [&](std::string_view lib) {
    return soname.size() > lib.size() + 3 && soname.starts_with(lib) && soname.substr(lib.size(), 4) == ".so.";
  });
}

std::optional<std::string> resolve_in_root(const std::string& root, const std::string& path) {
  if (root == "/") {
    char buf[PATH_MAX];
    if (::realpath(path.c_str(), buf) == nullptr) return std::nullopt;
    return std::string(buf);
  }
  // RESOLVE_IN_ROOT: an absolute symlink in the tree (libcuda.so.1 ->
  // /usr/lib/...) resolves inside it, and ".." stops at its top (openat2(2)).
  Fd dir(::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!dir) return std::nullopt;
  Fd f = open_resolved(dir.get(), path, O_PATH, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
  if (!f) return std::nullopt;
  char buf[PATH_MAX];
  ssize_t n = ::readlink(fd_path(f.get()).c_str(), buf, sizeof buf - 1);
  if (n <= 0) return std::nullopt;
  return std::string(buf, static_cast<size_t>(n));
}

std::optional<int> gpu_index(std::string_view s) {
  int v = -1;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size() || v < 0 || v > 255) return std::nullopt;
  return v;
}

std::vector<int> gpu_nodes(const std::string& dev_dir) {
  std::vector<int> out;
  DIR* d = ::opendir(dev_dir.c_str());
  if (d == nullptr) return out;
  while (struct dirent* e = ::readdir(d)) {
    std::string_view name = e->d_name;
    if (!name.starts_with("nvidia")) continue;
    auto i = gpu_index(name.substr(6));
    struct stat st {};  // followed, as a bound placeholder or a symlink to the node is
    if (i && ::fstatat(::dirfd(d), e->d_name, &st, 0) == 0 && S_ISCHR(st.st_mode)) out.push_back(*i);
  }
  ::closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

runtime::ContainerEdits driver_edits(const std::string& root, const std::vector<int>& gpus) {
  runtime::ContainerEdits out;
  std::string dev = under(root, "/dev");
  struct stat st {};
  std::string ctl = dev + "/nvidiactl";
  if (::stat(ctl.c_str(), &st) != 0 || !S_ISCHR(st.st_mode))
    throw Error(fmt::format("--gpus: no CDI spec provides nvidia.com/gpu and no NVIDIA driver was found "
                            "({} does not exist)", ctl));
  auto node = [&](const std::string& name) {
    cdi::DeviceNode d;
    d.path = "/dev/" + name;
    d.host_path = dev + "/" + name;
    return cdi::bind_device_node(d, "--gpus");
  };
  out.mounts.push_back(node("nvidiactl"));
  for (const char* n : {"nvidia-uvm", "nvidia-uvm-tools", "nvidia-modeset"})
    if (::stat((dev + "/" + n).c_str(), &st) == 0 && S_ISCHR(st.st_mode)) out.mounts.push_back(node(n));
  for (int g : gpus) out.mounts.push_back(node(fmt::format("nvidia{}", g)));

  std::string cache_path = under(root, "/etc/ld.so.cache");
  std::string cache_text;
  try {
    cache_text = read_file(cache_path);
  } catch (Error& e) {
    throw e.context("--gpus: the NVIDIA driver's libraries are found through the loader cache");
  }
  auto entries = parse_loader_cache(cache_text);
  if (!entries) throw Error(fmt::format("--gpus: {} is not a loader cache (ldconfig's)", cache_path));
  std::vector<std::string> seen;
  for (const auto& e : *entries) {
    if (!is_driver_library(e.soname) || std::find(seen.begin(), seen.end(), e.soname) != seen.end()) continue;
    auto host = resolve_in_root(root, e.path);
    if (!host) continue;  // a stale cache entry
    seen.push_back(e.soname);
    runtime::Mount m;
    m.source = *host;
    m.destination = std::string(kDriverLibDir) + "/" + e.soname;
    m.read_only = true;
    out.mounts.push_back(std::move(m));
  }
  if (std::none_of(seen.begin(), seen.end(), [](const std::string& s) { return s.starts_with("libcuda.so."); }))
    throw Error(fmt::format("--gpus: no libcuda in {}: the NVIDIA driver's libraries were not found", cache_path));

  for (const char* bin : kDriverBins)
    for (const char* dir : {"/usr/bin", "/usr/sbin", "/bin", "/sbin"})
      if (auto host = resolve_in_root(root, std::string(dir) + "/" + bin)) {
        runtime::Mount m;
        m.source = *host;
        m.destination = std::string("/usr/bin/") + bin;
        m.read_only = true;
        out.mounts.push_back(std::move(m));
        break;
      }
  // nvidia-persistenced's socket, when it runs: NVML asks it, not the GPU.
  if (auto sock = resolve_in_root(root, "/run/nvidia-persistenced/socket")) {
    runtime::Mount m;
    m.source = *sock;
    m.destination = "/run/nvidia-persistenced/socket";
    m.optional = true;
    out.mounts.push_back(std::move(m));
  }
  return out;
}

}  // namespace ferry::hpc
