// `ferry run --mpi[=PROFILE]`: the profile, the host side now, the image
// side once the image is mounted (docs/design/mpi.md).
#include "ferry/hpc/mpi.hpp"

#include <cstdlib>
#include <fmt/format.h>
#include <memory>

#include "ferry/core/error.hpp"
#include "ferry/core/path.hpp"
#include "ferry/core/log.hpp"
#include "ferry/runtime/defaults.hpp"
#include "ld_cache.hpp"
#include "mpi_host.hpp"
#include "mpi_image.hpp"

namespace ferry::hpc {
namespace {

constexpr const char* kBuiltin = "mpich";

// Debian's MPICH (package libmpich12): UCX, which it uses, dlopen()s its
// transports from <libucs's directory>/ucx; hwloc its plugins from
// HWLOC_PLUGINS_PATH.
MpiProfile builtin_profile() {
  std::string libdir = default_library_dirs()[1];  // /usr/lib/<multiarch>
  MpiProfile p;
  p.name = kBuiltin;
  p.libraries = {libdir + "/libmpich.so.12", libdir + "/libmpichcxx.so.12", libdir + "/libmpichfort.so.12"};
  p.plugin_dirs = {libdir + "/ucx", libdir + "/hwloc"};
  p.devices = {"/dev/infiniband"};
  p.env = {"PMI_*", "PMIX_*", "HYDRA_*", "MPIR_CVAR_*", "MPICH_*", "UCX_*", "FI_*", "HWLOC_*", "SLURM_*",
           fmt::format("HWLOC_PLUGINS_PATH={}/hwloc", kMpiLibDir)};
  return p;
}

bool env_matches(const std::string& pattern, const std::string& name) {
  if (!pattern.empty() && pattern.back() == '*') return name.rfind(pattern.substr(0, pattern.size() - 1), 0) == 0;
  return name == pattern;
}

// Ranks in sibling user namespaces (--no-share: one namespace per
// container) may not open each other's /proc/PID/fd nor use
// process_vm_readv(2): both need CAP_SYS_PTRACE in the peer's namespace
// (ptrace_may_access, cap_ptrace_access_check). UCX does both by default
// for shared memory: make it share by file name and leave out CMA, unless
// the user chose otherwise. Ranks of one image (SquashFS or directory) join
// one holder and so one user namespace, and need none of this.
void separate_namespace_env(std::vector<std::string>& out) {
  if (std::getenv("UCX_POSIX_USE_PROC_LINK") == nullptr) out.emplace_back("UCX_POSIX_USE_PROC_LINK=n");
  if (std::getenv("UCX_TLS") == nullptr) out.emplace_back("UCX_TLS=^cma");
}

// Host variables the profile passes (PMI_*: even with --cleanenv), then its
// NAME=VALUE settings.
std::vector<std::string> mpi_env(const MpiProfile& p) {
  std::vector<std::string> out;
  for (const auto& entry : runtime::host_environment()) {
    std::string name = runtime::env_name(entry);
    for (const auto& pat : p.env)
      if (pat.find('=') == std::string::npos && env_matches(pat, name)) {
        out.push_back(entry);
        break;
      }
  }
  for (const auto& pat : p.env)
    if (pat.find('=') != std::string::npos) out.push_back(pat);
  return out;
}

}  // namespace

MpiProfile mpi_profile(const Config& config, const std::string& name) {
  std::string want = !name.empty() ? name : config.mpi_default.value_or(kBuiltin);
  auto it = config.mpi_profiles.find(want);
  if (it == config.mpi_profiles.end()) {
    if (want == kBuiltin) return builtin_profile();
    std::string known;
    for (const auto& [n, _] : config.mpi_profiles) known += (known.empty() ? "" : ", ") + n;
    throw Error(fmt::format("--mpi: no MPI profile '{}' in ferry.toml (profiles: {})", want,
                            known.empty() ? "none but the built-in mpich" : known));
  }
  const MpiProfileConfig& c = it->second;
  MpiProfile p = want == kBuiltin ? builtin_profile() : MpiProfile{};
  p.name = want;
  if (c.libraries) p.libraries = *c.libraries;
  if (c.plugin_dirs) p.plugin_dirs = *c.plugin_dirs;
  if (c.devices) p.devices = *c.devices;
  if (c.env) p.env = *c.env;
  if (c.mounts) p.mounts = *c.mounts;
  if (p.libraries.empty()) throw Error(fmt::format("--mpi: MPI profile '{}' lists no libraries", want));
  return p;
}

runtime::ContainerEdits mpi_edits(const MpiProfile& profile, const std::vector<std::string>& image_env,
                                  bool shared_userns) {
  log::Timer t("mpi host libraries");
  auto host = std::make_shared<const HostMpi>(resolve_host_mpi(profile.name, profile.libraries, profile.plugin_dirs));
  std::string image_ld_path = runtime::env_get(image_env, "LD_LIBRARY_PATH").value_or("");
  runtime::ContainerEdits edits;
  edits.env = mpi_env(profile);
  edits.library_path.push_back(kMpiLibDir);
  if (!shared_userns) separate_namespace_env(edits.env);
  for (const auto& d : profile.devices) {
    runtime::Mount m;
    m.source = m.destination = d;
    m.device = true;
    m.optional = true;
    m.recursive = true;
    edits.mounts.push_back(m);
  }
  for (const auto& spec : profile.mounts) edits.mounts.push_back(runtime::parse_volume(spec));
  auto dirs = absolute_dirs(image_ld_path);
  std::string name = profile.name;
  edits.inspectors.push_back([host, dirs, name](runtime::ImageRoot& image) {
    try {
      return inject_mpi(*host, image, dirs);
    } catch (Error& e) {
      throw e.context("--mpi=" + name);
    }
  });
  return edits;
}

}  // namespace ferry::hpc
