/// Per-node caches: a writable directory inside the container, private to
/// it, on node-local disk, limited to SIZE (ENOSPC past it) and discarded
/// when the container ends. Shifter's `--volume=X:DST:perNodeCache=size=S`
/// and ferry's `--scratch DST:size=S` both ask for one.
///
/// ferry serves each cache itself over FUSE (a passthrough to a private
/// directory under `[cache] dir`, default $TMPDIR else /tmp) from the
/// process that holds the container; docs/design/per-node-cache.md says why
/// and how. The backing directory belongs to the runtime::ServedFs in the
/// returned edits: it is removed when the last copy of the spec goes, and a
/// cache whose ferry was killed is removed by the next ferry that makes one.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ferry/runtime/container_spec.hpp"

namespace ferry {
struct Config;
}

namespace ferry::hpc {

/// One cache a user asked for.
struct CacheSpec {
  std::string destination;  ///< absolute, normalized path inside the container
  uint64_t size = 0;        ///< bytes the container may allocate in it
};

/// "SRC:DST:perNodeCache=size=SIZE[,bs=..,method=..,fstype=..]" (Shifter; SRC
/// is ignored): the cache it asks for, or nullopt when SPEC is not a
/// perNodeCache volume (an ordinary -v). Shifter's bs, method and fstype
/// are accepted and ignored with a warning. Throws a one-line Error naming
/// SPEC when it is a perNodeCache volume but malformed.
std::optional<CacheSpec> parse_cache_volume(const std::string& spec);

/// "DST:size=SIZE" (--scratch). Throws a one-line Error naming SPEC.
CacheSpec parse_scratch(const std::string& spec);

/// Where caches are kept: `[cache] dir`, else $TMPDIR, else /tmp.
std::string cache_dir(const Config& config);

/// Makes a backing directory for each cache under DIR (in the caller's
/// private ferry-cache-UID directory there, removing caches left by killed
/// ferry processes first) and returns the Served mounts. Starts no thread:
/// call it before the namespaces.
runtime::ContainerEdits cache_edits(const std::vector<CacheSpec>& caches, const std::string& dir);

}  // namespace ferry::hpc
