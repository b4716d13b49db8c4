#include "mpi_image.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <map>
#include <optional>
#include <set>

#include "ferry/core/error.hpp"
#include "ferry/hpc/mpi.hpp"
#include "ld_cache.hpp"

namespace ferry::hpc {
namespace {

std::string base_name(const std::string& path) { return path.substr(path.rfind('/') + 1); }

// Where the image's loader looks for a soname that no RUNPATH names:
// LD_LIBRARY_PATH, the image's /etc/ld.so.cache, the default directories.
class ImageLoader {
 public:
  ImageLoader(runtime::ImageRoot& root, const std::vector<std::string>& ld_library_path, uint16_t machine)
      : root_(root), dirs_(ld_library_path), machine_(machine) {
    if (auto fd = root_.open_file("/etc/ld.so.cache")) cache_ = read_loader_cache(fd->get());
  }

  struct Found {
    std::string path;
    ElfInfo elf;
  };

  using FileIds = std::set<std::pair<dev_t, ino_t>>;

  // Every file of the image the loader could load for SONAME, the one it
  // loads first; one per file: a file in SEEN already is passed over, so
  // two names of one file (libmpi.so.12 -> libmpich.so.12) count once.
  std::vector<Found> find_all(const std::string& soname, FileIds& seen) {
    std::vector<Found> out;
    auto consider = [&](const std::string& path) {
      auto fd = root_.open_file(path);
      struct stat st {};
      if (!fd || ::fstat(fd->get(), &st) != 0 || !seen.insert({st.st_dev, st.st_ino}).second) return;
      auto elf = read_elf(fd->get());
      if (elf && elf->machine == machine_) out.push_back({path, std::move(*elf)});
    };
    for (const auto& d : dirs_) consider(d + "/" + soname);
    for (const auto& e : cache_)
      if (e.soname == soname) consider(e.path);
    for (const auto& d : default_library_dirs()) consider(d + "/" + soname);
    return out;
  }

  std::optional<Found> find(const std::string& soname) {
    FileIds seen;
    auto all = find_all(soname, seen);
    if (all.empty()) return std::nullopt;
    return std::move(all.front());
  }

 private:
  runtime::ImageRoot& root_;
  std::vector<std::string> dirs_;
  uint16_t machine_;
  std::vector<LoaderCacheEntry> cache_;
};

runtime::Mount bind_ro(const std::string& src, const std::string& dst) {
  runtime::Mount m;
  m.source = src;
  m.destination = dst;
  m.read_only = true;
  return m;
}

std::string highest_glibc(const ElfInfo& elf) {
  std::string best;
  for (const auto& v : elf.verdef)
    if (v.rfind("GLIBC_", 0) == 0 && v != "GLIBC_PRIVATE" && (best.empty() || version_less(best, v))) best = v;
  return best;
}

// The libraries the image itself provides to the host MPI (glibc, compiler
// runtimes it has): every symbol version a host object needs from one must
// be defined there, or the loader would stop the program at start-up.
class ImageProvided {
 public:
  explicit ImageProvided(ImageLoader& loader) : loader_(loader) {}

  // nullopt: the image has no such library.
  const ImageLoader::Found* get(const std::string& soname) {
    auto it = libs_.find(soname);
    if (it == libs_.end()) it = libs_.emplace(soname, loader_.find(soname)).first;
    return it->second ? &*it->second : nullptr;
  }

  void check(const HostObject& obj) {
    for (const auto& [file, version] : obj.elf.verneed) {
      auto it = libs_.find(file);
      if (it == libs_.end() || !it->second) continue;
      const auto& have = it->second->elf.verdef;
      if (std::find(have.begin(), have.end(), version) != have.end()) continue;
      if (version.rfind("GLIBC_", 0) == 0) {
        std::string top = highest_glibc(it->second->elf);
        throw Error(fmt::format("the image's glibc is older than the host MPI needs: {} needs {} from {}, "
                                "the image's {} defines {}",
                                obj.path, version, file, it->second->path,
                                top.empty() ? "no GLIBC_ version" : "up to " + top));
      }
      throw Error(fmt::format("the image's {} ({}) is older than the host MPI needs: {} needs its version {}",
                              file, it->second->path, obj.path, version));
    }
  }

 private:
  ImageLoader& loader_;
  std::map<std::string, std::optional<ImageLoader::Found>> libs_;
};

}  // namespace

std::vector<std::string> mpich_abi_names(const std::string& soname) {
  std::vector<std::string> names{soname};
  if (soname.rfind("libmpich", 0) == 0) names.push_back("libmpi" + soname.substr(8));
  else if (soname.rfind("libmpi", 0) == 0) names.push_back("libmpich" + soname.substr(6));
  return names;
}

std::vector<runtime::Mount> inject_mpi(const HostMpi& host, runtime::ImageRoot& image,
                                       const std::vector<std::string>& ld_library_path) {
  const HostObject& first = host.objects.at(host.libraries.front());
  ImageLoader loader(image, ld_library_path, first.elf.machine);
  std::vector<runtime::Mount> binds;
  std::vector<const HostObject*> roots;
  std::set<std::string> replaced;  // sonames bound in place in the image
  for (const auto& lib : host.libraries) {
    const HostObject& obj = host.objects.at(lib);
    std::string soname = obj.elf.soname.empty() ? base_name(lib) : obj.elf.soname;
    size_t before = binds.size();
    ImageLoader::FileIds seen;
    auto names = mpich_abi_names(soname);
    for (const auto& name : names) {
      for (const auto& f : loader.find_all(name, seen)) binds.push_back(bind_ro(lib, f.path));
      replaced.insert(name);
    }
    if (binds.size() > before) roots.push_back(&obj);
    else if (&obj == &first) {
      throw Error(fmt::format("the image has no MPICH-ABI library ({}) where its loader looks "
                              "(ld.so.cache, LD_LIBRARY_PATH, /lib, /usr/lib): --mpi replaces the image's MPI, "
                              "it cannot add one",
                              fmt::join(names, " or ")));
    }
  }
  // The closure of what the matched libraries and the plugins need: glibc
  // and the compiler runtimes the image has stay the image's; the rest is
  // the host's, in kMpiLibDir.
  ImageProvided provided(loader);
  std::map<std::string, std::string> injected;  // soname -> host path
  std::vector<const HostObject*> todo(roots.begin(), roots.end());
  for (const auto& p : host.plugins) todo.push_back(&host.objects.at(p));
  std::vector<const HostObject*> checked;
  std::set<std::string> visited;
  while (!todo.empty()) {
    const HostObject* obj = todo.back();
    todo.pop_back();
    if (!visited.insert(obj->path).second) continue;
    checked.push_back(obj);
    for (const auto& [so, path] : obj->needed) {
      if (replaced.count(so) != 0) continue;
      bool glibc = is_glibc_library(so);
      if (glibc || is_toolchain_runtime(so)) {
        if (provided.get(so) != nullptr) continue;
        if (glibc && so.rfind("ld-", 0) != 0)
          throw Error(fmt::format("the image has no {}, which the host MPI needs ({})", so, obj->path));
        if (glibc) continue;  // the program's own interpreter
      }
      if (injected.emplace(so, path).second) todo.push_back(&host.objects.at(path));
    }
  }
  for (const HostObject* obj : checked) provided.check(*obj);
  if (injected.empty() && host.plugin_dirs.empty()) return binds;
  runtime::Mount dir;
  dir.kind = runtime::Mount::Kind::Tmpfs;
  dir.destination = kMpiLibDir;
  binds.push_back(dir);
  for (const auto& [so, path] : injected) binds.push_back(bind_ro(path, std::string(kMpiLibDir) + "/" + so));
  for (const auto& d : host.plugin_dirs) binds.push_back(bind_ro(d, std::string(kMpiLibDir) + "/" + base_name(d)));
  return binds;
}

}  // namespace ferry::hpc
