// A `docker save` archive, read through its manifest.json:
//   [{"Config": "<file>", "RepoTags": ["repo:tag"…], "Layers": ["<file>"…]}]
// Two layouts carry it (moby image/tarexport):
//   - Docker < 25: "<hex>.json" config (hex = the image id), "<id>/layer.tar"
//     uncompressed layers, whose digest is their diff_id.
//   - Docker 25+: an OCI image layout inside; Config and Layers name
//     "blobs/sha256/<hex>" (layers may be gzip/zstd when the image came so
//     from a registry), and "<id>/layer.tar" are symlinks into blobs/.
// A name that carries a digest (blobs/sha256/<hex>, <hex>.json) is checked
// against it; every layer is checked against the config's diff_ids.
#include <fmt/format.h>

#include <regex>

#include "ferry/core/error.hpp"
#include "ferry/core/sha256.hpp"
#include "ferry/image/reference.hpp"
#include "ferry/image/source.hpp"
#include "source_json.hpp"

namespace ferry::image {
namespace {

using nlohmann::json;

// The digest a member's name gives it, if any.
std::optional<std::string> digest_in_name(const std::string& name) {
  static const std::regex blob("^(?:\\./)?blobs/sha256/([0-9a-f]{64})$");
  static const std::regex legacy_config("^(?:\\./)?([0-9a-f]{64})\\.json$");
  std::smatch m;
  if (std::regex_match(name, m, blob) || std::regex_match(name, m, legacy_config)) return "sha256:" + m[1].str();
  return std::nullopt;
}

std::vector<std::string> strings(const json& list, const std::string& what) {
  std::vector<std::string> out;
  for (const auto& s : list) {
    if (!s.is_string()) throw Error(what + ": expected strings");
    out.push_back(s.get<std::string>());
  }
  return out;
}

// The entry to import: the only one, or the one tagged with a wanted name.
const json& choose(const json& manifest, const std::vector<std::string>& want) {
  if (!manifest.is_array() || manifest.empty()) throw Error("manifest.json: malformed: expected a non-empty array");
  if (manifest.size() == 1) return manifest[0];
  const json* found = nullptr;
  std::vector<std::string> all;
  for (const auto& entry : manifest)
    for (const auto& tag : strings(source::array_field(entry, "RepoTags", "manifest.json"), "manifest.json")) {
      all.push_back(tag);
      auto ref = parse_reference(tag).str();
      if (std::find(want.begin(), want.end(), ref) != want.end() && found != &entry) {
        if (found) throw Error("manifest.json: the names given match several images of the archive");
        found = &entry;
      }
    }
  if (!found)
    throw Error(fmt::format("manifest.json: {} images in the archive; name the one to import (tags: {})",
                            manifest.size(), all.empty() ? "none" : fmt::format("{}", fmt::join(all, ", "))));
  return *found;
}

SourceLayer layer_of(const SourceFiles& files, const std::string& name) {
  auto digest = digest_in_name(name);
  std::string what = "layer " + (digest ? *digest : name);
  auto w = files.find(name);
  if (!w) throw Error(fmt::format("{}: blob missing ({})", what, name));
  return SourceLayer{what, *w, digest, std::nullopt, {}};
}

}  // namespace

SourceImage read_docker_archive(const SourceFiles& files, const std::vector<std::string>& want) {
  json manifest = source::parse_json(files.read("manifest.json", "manifest.json (not a docker save archive)"),
                                     "manifest.json");
  const json& entry = choose(manifest, want);
  std::string config_name = source::string_field(entry, "Config", "manifest.json");
  SourceImage img;
  if (auto digest = digest_in_name(config_name))
    img.config = source::read_verified(files, config_name, *digest, std::nullopt, "config " + *digest);
  else
    img.config = files.read(config_name, "config " + config_name);
  for (const auto& name : strings(source::array_field(entry, "Layers", "manifest.json"), "manifest.json: Layers"))
    img.layers.push_back(layer_of(files, name));
  img.names = strings(source::array_field(entry, "RepoTags", "manifest.json"), "manifest.json: RepoTags");
  attach_diff_ids(img.config, img.layers);
  return img;
}

}  // namespace ferry::image
