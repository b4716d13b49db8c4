/// The dynamic loader's cache, /etc/ld.so.cache, as glibc's ldconfig writes
/// it ("glibc-ld.so.cache1.1", optionally after the old "ld.so-1.7.0"
/// table; glibc elf/cache.c and sysdeps/generic/dl-cache.h). The loader
/// looks a soname up there after LD_LIBRARY_PATH and DT_RUNPATH and before
/// its default directories (ld.so(8)); ld.so.conf is read only by ldconfig.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ferry::hpc {

struct LoaderCacheEntry {
  std::string soname;
  std::string path;
  int32_t flags = 0;  ///< FLAG_ELF_LIBC6 | the arch's FLAG_*_LIB64 etc.
};

/// The ABI bits (FLAG_*_LIB64, glibc's ldconfig.h) of this machine's 64-bit
/// libraries in a cache entry's flags; -1 where ferry does not know them
/// (then every libc6 entry counts).
#if defined(__x86_64__)
constexpr int32_t kNativeRequired = 0x0300;  // FLAG_X8664_LIB64
#elif defined(__aarch64__)
constexpr int32_t kNativeRequired = 0x0a00;  // FLAG_AARCH64_LIB64
#elif defined(__powerpc64__)
constexpr int32_t kNativeRequired = 0x0500;  // FLAG_POWERPC_LIB64
#else
constexpr int32_t kNativeRequired = -1;  // any
#endif

/// The entries of a cache file's bytes for this machine's ABI (an x86_64
/// cache may also list i386 libraries), in file order (the loader's
/// priority order). nullopt when DATA is not such a cache, or is cut short.
std::optional<std::vector<LoaderCacheEntry>> parse_loader_cache(std::string_view data);

/// The cache behind FD (at most 64 MiB read), as parse_loader_cache gives
/// it; no entries when it cannot be read or is not a cache.
std::vector<LoaderCacheEntry> read_loader_cache(int fd);

/// The loader's default directories for this architecture, after the cache:
/// the multiarch ones (Debian, Ubuntu), then lib64 and lib (other distributions).
const std::vector<std::string>& default_library_dirs();

/// The glibc libraries, which must come from the same glibc as the image's
/// loader: never injected, only checked (libc.so.6, libm.so.6, ld-linux*, ...).
bool is_glibc_library(std::string_view soname);

}  // namespace ferry::hpc
