#include "ld_cache.hpp"

#include <cstring>

#include "ferry/core/error.hpp"
#include "ferry/core/fd.hpp"
#include "ferry/core/path.hpp"

namespace ferry::hpc {
namespace {

constexpr std::string_view kOldMagic = "ld.so-1.7.0";
constexpr std::string_view kNewMagic = "glibc-ld.so.cache1.1";
constexpr size_t kOldHeader = 16;    // magic[11] (+1 pad), uint32 nlibs
constexpr size_t kOldEntry = 12;     // int32 flags, uint32 key, value
constexpr size_t kNewHeader = 48;    // magic+version[20], nlibs, len_strings, flags[4], ext, unused[3]
constexpr size_t kNewEntry = 24;     // int32 flags, uint32 key, value, osversion, uint64 hwcap

// Entry flags (glibc sysdeps/generic/ldconfig.h): the type in the low byte,
// the ABI a 64-bit library needs in the next.
constexpr int32_t kFlagTypeMask = 0x00ff, kFlagElfLibc6 = 0x0003, kFlagRequiredMask = 0xff00;

uint32_t u32(std::string_view d, size_t off) {
  uint32_t v;
  std::memcpy(&v, d.data() + off, sizeof v);
  return v;
}

// Limits on what an image's ld.so.cache (written by anyone) may make ferry
// hold: a path is at most PATH_MAX, and all kept strings together at most
// kMaxStrings (a real cache's are well under 1 MiB).
constexpr size_t kMaxPath = 4096;
constexpr size_t kMaxStrings = 16 << 20;

// The NUL-terminated string at OFF; empty when it is outside D, unended or
// longer than kMaxPath.
std::string c_string(std::string_view d, size_t off) {
  if (off >= d.size()) return {};
  auto end = d.substr(off, kMaxPath + 1).find('\0');
  if (end == std::string_view::npos) return {};
  return std::string(d.substr(off, end));
}

}  // namespace

std::optional<std::vector<LoaderCacheEntry>> parse_loader_cache(std::string_view data) {
  // An old-format table may come first; the new one follows it, 8-aligned,
  // and its string offsets count from its own start (dl-cache.c).
  size_t start = 0;
  if (data.size() >= kOldHeader && data.substr(0, kOldMagic.size()) == kOldMagic) {
    uint64_t n = u32(data, 12);
    if (n > data.size() / kOldEntry) return std::nullopt;
    start = (kOldHeader + n * kOldEntry + 7) & ~size_t{7};
  }
  if (start + kNewHeader > data.size() || data.substr(start, kNewMagic.size()) != kNewMagic) return std::nullopt;
  std::string_view d = data.substr(start);
  uint64_t n = u32(d, 20);
  if (n > (d.size() - kNewHeader) / kNewEntry) return std::nullopt;
  std::vector<LoaderCacheEntry> out;
  size_t kept = 0;  // string bytes
  for (uint64_t i = 0; i < n && kept < kMaxStrings; ++i) {
    size_t e = kNewHeader + i * kNewEntry;
    LoaderCacheEntry c;
    std::memcpy(&c.flags, d.data() + e, sizeof c.flags);
    if ((c.flags & kFlagTypeMask) != kFlagElfLibc6) continue;
    if (kNativeRequired >= 0 && (c.flags & kFlagRequiredMask) != kNativeRequired) continue;
    c.soname = c_string(d, u32(d, e + 4));
    c.path = c_string(d, u32(d, e + 8));
    if (c.soname.empty() || c.path.empty() || c.path[0] != '/') continue;
    kept += c.soname.size() + c.path.size();
    out.push_back(std::move(c));
  }
  return out;
}

std::vector<LoaderCacheEntry> read_loader_cache(int fd) {
  try {
    return parse_loader_cache(read_fd(fd, "ld.so.cache", 64 << 20)).value_or(std::vector<LoaderCacheEntry>{});
  } catch (const Error&) {
    return {};
  }
}

const std::vector<std::string>& default_library_dirs() {
#if defined(__x86_64__)
#define FERRY_MULTIARCH "x86_64-linux-gnu"
#elif defined(__aarch64__)
#define FERRY_MULTIARCH "aarch64-linux-gnu"
#elif defined(__powerpc64__)
#define FERRY_MULTIARCH "powerpc64le-linux-gnu"
#else
#define FERRY_MULTIARCH "unknown-linux-gnu"
#endif
  static const std::vector<std::string> dirs = {"/lib/" FERRY_MULTIARCH, "/usr/lib/" FERRY_MULTIARCH,
                                                "/lib64", "/usr/lib64", "/lib", "/usr/lib"};
  return dirs;
}

bool is_glibc_library(std::string_view so) {
  static const char* const kGlibc[] = {"libc.so.", "libm.so.", "libmvec.so.", "libpthread.so.", "libdl.so.",
                                       "librt.so.", "libresolv.so.", "libutil.so.", "libanl.so.",
                                       "libnsl.so.", "libBrokenLocale.so.", "libthread_db.so.",
                                       "libc_malloc_debug.so.", "libnss_", "ld-linux", "ld64.so."};
  for (const char* p : kGlibc)
    if (so.substr(0, std::strlen(p)) == p) return true;
  return false;
}

}  // namespace ferry::hpc
