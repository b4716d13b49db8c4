// Shared by the source readers (source_oci.cpp, source_docker.cpp): strict
// JSON access that fails with one line naming the document, and blobs read
// and checked against their digest. Private to src/image.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "ferry/image/source.hpp"

namespace ferry::image::source {

/// Parses TEXT; throws "WHAT: malformed JSON (…)".
nlohmann::json parse_json(std::string_view text, const std::string& what);

/// J[KEY] as a string; throws "WHAT: KEY: missing or not a string" when
/// required, else "" when absent.
std::string string_field(const nlohmann::json& j, const char* key, const std::string& what, bool required = true);

/// J[KEY] as an array (empty when absent); throws when it is something else.
const nlohmann::json& array_field(const nlohmann::json& j, const char* key, const std::string& what);

/// "blobs/sha256/<hex>" for a sha256 digest; throws naming WHAT otherwise
/// (so a digest never becomes a path outside blobs/).
std::string blob_path(const std::string& digest, const std::string& what);

/// Reads blob PATH (at most 64 MiB) and checks its sha256 against DIGEST and
/// its size against SIZE when given: "WHAT: digest mismatch (got sha256:…)".
std::string read_verified(const SourceFiles& files, const std::string& path, const std::string& digest,
                          std::optional<uint64_t> size, const std::string& what);

}  // namespace ferry::image::source
