#include "source_json.hpp"

#include <fmt/format.h>

#include "ferry/core/error.hpp"
#include "ferry/core/sha256.hpp"
#include "ferry/image/reference.hpp"

namespace ferry::image {
namespace source {

nlohmann::json parse_json(std::string_view text, const std::string& what) {
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    std::string why = e.what();
    if (auto p = why.find("] "); p != std::string::npos) why = why.substr(p + 2);  // drop "[json.exception…]"
    throw Error(fmt::format("{}: malformed JSON ({})", what, why));
  }
}

std::string string_field(const nlohmann::json& j, const char* key, const std::string& what, bool required) {
  if (!j.is_object()) throw Error(fmt::format("{}: malformed: expected an object", what));
  auto it = j.find(key);
  if (it == j.end() && !required) return {};
  if (it == j.end() || !it->is_string()) throw Error(fmt::format("{}: {}: missing or not a string", what, key));
  return it->get<std::string>();
}

const nlohmann::json& array_field(const nlohmann::json& j, const char* key, const std::string& what) {
  static const nlohmann::json empty = nlohmann::json::array();
  if (!j.is_object()) throw Error(fmt::format("{}: malformed: expected an object", what));
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return empty;
  if (!it->is_array()) throw Error(fmt::format("{}: {}: not an array", what, key));
  return *it;
}

std::string blob_path(const std::string& digest, const std::string& what) {
  if (!is_digest(digest)) throw Error(fmt::format("{}: unsupported or malformed digest '{}'", what, digest));
  return "blobs/sha256/" + digest.substr(7);
}

std::string read_verified(const SourceFiles& files, const std::string& path, const std::string& digest,
                          std::optional<uint64_t> size, const std::string& what) {
  std::string data = files.read(path, what);
  std::string got = sha256_digest(data);
  if (got != digest) throw Error(fmt::format("{}: digest mismatch (got {})", what, got));
  if (size && *size != data.size())
    throw Error(fmt::format("{}: size mismatch (descriptor says {}, blob has {})", what, *size, data.size()));
  return data;
}

}  // namespace source

void attach_diff_ids(std::string_view config, std::vector<SourceLayer>& layers) {
  const std::string what = "config " + sha256_digest(config);
  auto doc = source::parse_json(config, what);
  if (!doc.is_object() || !doc.contains("rootfs")) throw Error(what + ": rootfs: missing");
  const auto& ids = source::array_field(doc["rootfs"], "diff_ids", what + ": rootfs");
  if (ids.size() != layers.size())
    throw Error(fmt::format("{}: {} diff_ids for {} layers", what, ids.size(), layers.size()));
  for (size_t i = 0; i < ids.size(); ++i) {
    if (!ids[i].is_string() || !is_digest(ids[i].get<std::string>()))
      throw Error(fmt::format("{}: rootfs.diff_ids[{}]: not a sha256 digest", what, i));
    layers[i].diff_id = ids[i].get<std::string>();
  }
}

}  // namespace ferry::image
