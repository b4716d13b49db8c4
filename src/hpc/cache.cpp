// Per-node caches as users ask for them (ferry/hpc/cache.hpp): Shifter's
// perNodeCache volumes and --scratch, turned into Served mounts.
#include "ferry/hpc/cache.hpp"

#include <cstdlib>
#include <fmt/format.h>

#include "cache_internal.hpp"
#include "ferry/core/config.hpp"
#include "ferry/core/error.hpp"
#include "ferry/core/log.hpp"
#include "ferry/core/path.hpp"
#include "ferry/hpc/size.hpp"
#include "ferry/runtime/defaults.hpp"

namespace ferry::hpc {
namespace {

constexpr const char kPerNodeCache[] = "perNodeCache=";

uint64_t size_of(const std::string& value, const std::string& what) {
  try {
    return parse_size(value);
  } catch (Error& e) {
    throw e.context(what);
  }
}

// "size=S[,bs=B,method=M,fstype=F]". Shifter formats a loop file with
// FSTYPE and block size B; ferry makes no file system (the cache is a
// directory on the node's disk, served over FUSE), so those are ignored,
// with a warning so that nobody thinks they took effect.
uint64_t parse_options(const std::string& opts, const std::string& what) {
  uint64_t size = 0;
  for (const auto& kv : split_fields(opts, ',')) {
    auto eq = kv.find('=');
    std::string key = kv.substr(0, eq);
    std::string value = eq == std::string::npos ? "" : kv.substr(eq + 1);
    if (key == "size") {
      size = size_of(value, what);
    } else if (key == "bs" || key == "method" || key == "fstype") {
      log::warn(fmt::format("{}: perNodeCache option '{}' is ignored: ferry serves the cache from a "
                            "directory on node-local disk, not a loop file system", what, key));
    } else {
      throw Error(fmt::format("{}: unknown perNodeCache option '{}' (expected size, bs, method or fstype)",
                              what, key));
    }
  }
  if (size == 0) throw Error(fmt::format("{}: perNodeCache needs size=SIZE", what));
  return size;
}

}  // namespace

std::optional<CacheSpec> parse_cache_volume(const std::string& spec) {
  auto parts = split_fields(spec, ':');
  size_t at = parts.size();
  for (size_t i = 0; i < parts.size(); ++i)
    if (parts[i].rfind(kPerNodeCache, 0) == 0) at = i;
  if (at == parts.size()) return std::nullopt;
  std::string what = fmt::format("volume '{}'", spec);
  if (parts.size() != 3 || at != 2)
    throw Error(fmt::format("{}: expected SRC:DST:perNodeCache=size=SIZE", what));
  // SRC is ignored, as Shifter ignores it: the cache starts empty.
  return CacheSpec{runtime::volume_destination(parts[1], what),
                   parse_options(parts[2].substr(sizeof kPerNodeCache - 1), what)};
}

CacheSpec parse_scratch(const std::string& spec) {
  std::string what = fmt::format("scratch '{}'", spec);
  auto parts = split_fields(spec, ':');
  if (parts.size() != 2 || parts[1].rfind("size=", 0) != 0)
    throw Error(fmt::format("{}: expected DST:size=SIZE", what));
  return CacheSpec{runtime::volume_destination(parts[0], what), size_of(parts[1].substr(5), what)};
}

std::string cache_dir(const Config& config) {
  if (config.cache_dir) return *config.cache_dir;
  if (const char* t = std::getenv("TMPDIR"); t != nullptr && t[0] == '/') return normalize_path(t);
  return "/tmp";
}

runtime::ContainerEdits cache_edits(const std::vector<CacheSpec>& caches, const std::string& dir) {
  runtime::ContainerEdits edits;
  for (const auto& c : caches) {
    runtime::Mount m;
    m.kind = runtime::Mount::Kind::Served;
    m.destination = c.destination;
    try {
      m.served = make_cache_fs(CacheDir::make(dir), c.size);
    } catch (Error& e) {
      throw e.context(fmt::format("per-node cache {}", c.destination));
    }
    edits.mounts.push_back(std::move(m));
  }
  return edits;
}

}  // namespace ferry::hpc
