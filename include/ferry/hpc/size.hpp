/// Sizes as users write them in options and ferry.toml: "512", "64K",
/// "10M", "2G", "1T" (powers of 1024; an optional trailing "B" or "iB").
#pragma once

#include <cstdint>
#include <string>

namespace ferry::hpc {

/// Bytes in SPEC. Throws a one-line Error naming SPEC when it is not a
/// positive size or overflows 64 bits.
uint64_t parse_size(const std::string& spec);

}  // namespace ferry::hpc
