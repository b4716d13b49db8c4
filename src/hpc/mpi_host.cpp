#include "mpi_host.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fmt/format.h>
#include <optional>
#include <set>

#include "ferry/core/error.hpp"
#include "ferry/core/path.hpp"
#include "ferry/core/log.hpp"
#include "ferry/core/fd.hpp"
#include "ld_cache.hpp"

namespace ferry::hpc {
namespace {

std::optional<ElfInfo> elf_at(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));  // a FIFO must not hang us
  if (!fd) return std::nullopt;
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
  return read_elf(fd.get());
}

std::string dir_of(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == 0 ? "/" : path.substr(0, slash);
}

std::vector<std::string> expand_origin(const std::vector<std::string>& dirs, const std::string& origin) {
  std::vector<std::string> out;
  for (std::string d : dirs) {
    for (const char* token : {"${ORIGIN}", "$ORIGIN"})
      for (auto at = d.find(token); at != std::string::npos; at = d.find(token))
        d.replace(at, std::string(token).size(), origin);
    if (!d.empty() && d[0] == '/') out.push_back(d);
  }
  return out;
}

class HostLoader {
 public:
  HostLoader() {
    if (Fd fd{::open("/etc/ld.so.cache", O_RDONLY | O_CLOEXEC | O_NONBLOCK)}) cache_ = read_loader_cache(fd.get());
    const char* v = std::getenv("LD_LIBRARY_PATH");
    ld_library_path_ = absolute_dirs(v != nullptr ? v : "");
  }

  // The loader's search for SONAME needed by FROM (ld.so(8), "Rpath token
  // expansion" and the search order).
  std::optional<std::string> find(const std::string& soname, const HostObject& from) const {
    std::string origin = dir_of(from.path);
    auto try_dirs = [&](const std::vector<std::string>& dirs) -> std::optional<std::string> {
      for (const auto& d : dirs)
        if (auto p = fits(d + "/" + soname, from.elf.machine)) return p;
      return std::nullopt;
    };
    if (from.elf.runpath.empty())
      if (auto p = try_dirs(expand_origin(from.elf.rpath, origin))) return p;
    if (auto p = try_dirs(ld_library_path_)) return p;
    if (auto p = try_dirs(expand_origin(from.elf.runpath, origin))) return p;
    for (const auto& e : cache_)
      if (e.soname == soname)
        if (auto p = fits(e.path, from.elf.machine)) return p;
    return try_dirs(default_library_dirs());
  }

 private:
  static std::optional<std::string> fits(const std::string& path, uint16_t machine) {
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));  // a FIFO must not hang us
    struct stat st {};
    if (fd && ::fstat(fd.get(), &st) == 0 && S_ISREG(st.st_mode) && elf_machine(fd.get()) == machine) return path;
    return std::nullopt;
  }

  std::vector<LoaderCacheEntry> cache_;
  std::vector<std::string> ld_library_path_;
};

// Regular ELF files (symlinks followed) directly in DIR: the modules a
// library dlopen()s from there, as UCX does from <libdir>/ucx.
std::vector<std::string> plugin_files(const std::string& dir) {
  std::vector<std::string> out;
  std::set<std::pair<dev_t, ino_t>> seen;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return out;
  while (struct dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name.find(".so") == std::string::npos) continue;
    std::string path = dir + "/" + name;
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    if (seen.insert({st.st_dev, st.st_ino}).second) out.push_back(path);
  }
  ::closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

bool is_toolchain_runtime(const std::string& soname) {
  static const char* const kRuntimes[] = {"libstdc++.so.6", "libgcc_s.so.1", "libgfortran.so.5",
                                          "libquadmath.so.0", "libgomp.so.1", "libatomic.so.1"};
  for (const char* r : kRuntimes)
    if (soname == r) return true;
  return false;
}

HostMpi resolve_host_mpi(const std::string& profile, const std::vector<std::string>& libraries,
                         const std::vector<std::string>& plugin_dirs) {
  HostLoader loader;
  HostMpi out;
  // PATH into out.objects and onto ADDED (every object once); false when
  // it is no 64-bit ELF object.
  auto add = [&](std::vector<std::string>& added, const std::string& path) {
    if (out.objects.count(path) != 0) return true;
    auto elf = elf_at(path);
    if (!elf) return false;
    out.objects[path] = HostObject{path, std::move(*elf), {}};
    added.push_back(path);
    return true;
  };
  // What ADDED's objects need, by the host loader's rules, into out.objects;
  // the objects that brings are appended to ADDED and closed in turn.
  // Returns "OBJECT needs SONAME" for the first need the loader cannot meet.
  auto close = [&](std::vector<std::string>& added) -> std::optional<std::string> {
    for (size_t next = 0; next < added.size(); ++next) {
      HostObject& obj = out.objects.at(added[next]);  // std::map: stays valid while `add` inserts
      for (const auto& so : obj.elf.needed) {
        if (is_glibc_library(so)) {
          obj.needed.emplace_back(so, "");
          continue;
        }
        auto path = loader.find(so, obj);
        if (!path || !add(added, *path)) return fmt::format("{} needs {}", obj.path, so);
        obj.needed.emplace_back(so, *path);
      }
    }
    return std::nullopt;
  };
  std::vector<std::string> added;
  for (const auto& l : libraries) {
    if (!add(added, l)) {
      if (::access(l.c_str(), F_OK) != 0)
        throw Error(fmt::format("MPI profile '{}': host library {} does not exist", profile, l));
      throw Error(fmt::format("MPI profile '{}': host library {} is not a 64-bit ELF shared object", profile, l));
    }
    out.libraries.push_back(l);
  }
  if (auto missing = close(added))
    throw Error(fmt::format("MPI profile '{}': host library {}, which the host's loader does not find", profile,
                            *missing));
  // A plugin the host's loader could not load either (a CUDA transport on a
  // node without libcuda) is left out, as the library skips it on the host.
  for (const auto& d : plugin_dirs) {
    struct stat st {};
    if (::stat(d.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) continue;  // not every node has every transport
    out.plugin_dirs.push_back(d);
    for (const auto& p : plugin_files(d)) {
      std::vector<std::string> mine;  // what this plugin brought: taken back if it cannot load
      if (!add(mine, p)) continue;
      if (auto missing = close(mine)) {
        log::debug(fmt::format("--mpi: plugin {} left out: {}, which the host's loader does not find", p, *missing));
        for (const auto& m : mine) out.objects.erase(m);
        continue;
      }
      out.plugins.push_back(p);
    }
  }
  return out;
}

}  // namespace ferry::hpc
