/// The host side of MPI injection: the profile's libraries and every
/// library they (and the plugins in the profile's plugin directories) need,
/// found as the host's dynamic loader finds them: DT_RPATH (when there is
/// no DT_RUNPATH), LD_LIBRARY_PATH, DT_RUNPATH (with $ORIGIN), the host's
/// ld.so.cache, then the default directories (ld.so(8)).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "elf.hpp"

namespace ferry::hpc {

struct HostObject {
  std::string path;  ///< as the loader found it (a symlink, maybe)
  ElfInfo elf;
  /// (soname, host path) for each DT_NEEDED; the path is empty for the
  /// glibc libraries, which always come from the image.
  std::vector<std::pair<std::string, std::string>> needed;
};

struct HostMpi {
  std::map<std::string, HostObject> objects;  ///< by path
  std::vector<std::string> libraries;         ///< the profile's, in order
  std::vector<std::string> plugin_dirs;       ///< existing ones
  std::vector<std::string> plugins;           ///< ELF objects in plugin_dirs
};

/// Resolves the closure. Throws a one-line Error naming PROFILE and the
/// library that is missing or not an ELF shared object.
HostMpi resolve_host_mpi(const std::string& profile, const std::vector<std::string>& libraries,
                         const std::vector<std::string>& plugin_dirs);

/// Compiler runtimes that keep their ABI with symbol versions: the image's
/// own copy is used (and checked) when it has one, the host's otherwise.
bool is_toolchain_runtime(const std::string& soname);

}  // namespace ferry::hpc
