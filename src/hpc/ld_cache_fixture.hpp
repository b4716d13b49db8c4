// For the unit tests only: an ld.so.cache in glibc's new format
// (dl-cache.h), as ldconfig writes it, built by hand.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

namespace ferry::hpc::testing {

/// A cache of LIBS (soname, path), every entry with FLAGS (FLAG_ELF_LIBC6
/// and an ABI's bits: ld_cache.hpp's kNativeRequired for this machine's).
inline std::string make_ld_cache(const std::vector<std::pair<std::string, std::string>>& libs, int32_t flags) {
  std::string head(48, '\0');  // magic+version[20], nlibs, len_strings, flags[4], ext, unused[3]
  std::memcpy(head.data(), "glibc-ld.so.cache1.1", 20);
  std::string entries(24 * libs.size(), '\0');  // flags, key, value, osversion, hwcap
  std::string strings;
  size_t base = head.size() + entries.size();
  for (size_t i = 0; i < libs.size(); ++i) {
    uint32_t key = static_cast<uint32_t>(base + strings.size());
    strings += libs[i].first + '\0';
    uint32_t value = static_cast<uint32_t>(base + strings.size());
    strings += libs[i].second + '\0';
    std::memcpy(entries.data() + 24 * i, &flags, 4);
    std::memcpy(entries.data() + 24 * i + 4, &key, 4);
    std::memcpy(entries.data() + 24 * i + 8, &value, 4);
  }
  uint32_t n = static_cast<uint32_t>(libs.size()), len = static_cast<uint32_t>(strings.size());
  std::memcpy(head.data() + 20, &n, 4);
  std::memcpy(head.data() + 24, &len, 4);
  return head + entries + strings;
}

}  // namespace ferry::hpc::testing
