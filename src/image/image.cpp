#include "ferry/image/image.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "ferry/core/config.hpp"
#include "ferry/core/error.hpp"
#include "ferry/core/fd.hpp"
#include "ferry/image/reference.hpp"
#include "ferry/image/squashfs_server.hpp"
#include "ferry/image/store.hpp"

namespace ferry::image {
namespace {

using nlohmann::json;

std::vector<std::string> string_list(const json& j, const char* key, const std::string& what) {
  std::vector<std::string> out;
  if (!j.is_array()) throw Error(what + ": config." + key + " is not an array of strings");
  for (const auto& item : j) {
    if (!item.is_string()) throw Error(what + ": config." + key + " is not an array of strings");
    out.push_back(item.get<std::string>());
  }
  return out;
}

std::string string_field(const json& j, const char* key, const std::string& what) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return {};
  if (!it->is_string()) throw Error(what + ": " + key + " is not a string");
  return it->get<std::string>();
}

// Null and absent mean the same in image configs written by Docker.
std::optional<std::vector<std::string>> optional_list(const json& c, const char* key,
                                                      const std::string& what) {
  auto it = c.find(key);
  if (it == c.end() || it->is_null()) return std::nullopt;
  return string_list(*it, key, what);
}

}  // namespace

ImageConfig parse_config(std::string_view text, const std::string& what) {
  json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) throw Error(what + ": malformed JSON");
  if (!doc.is_object()) throw Error(what + ": not a JSON object");
  ImageConfig cfg;
  cfg.architecture = string_field(doc, "architecture", what);
  cfg.os = string_field(doc, "os", what);
  auto it = doc.find("config");
  if (it == doc.end() || it->is_null()) return cfg;
  const json& c = *it;
  if (!c.is_object()) throw Error(what + ": config is not an object");
  if (auto env = optional_list(c, "Env", what)) cfg.env = std::move(*env);
  cfg.entrypoint = optional_list(c, "Entrypoint", what);
  cfg.cmd = optional_list(c, "Cmd", what);
  cfg.working_dir = string_field(c, "WorkingDir", what);
  cfg.user = string_field(c, "User", what);
  if (auto labels = c.find("Labels"); labels != c.end() && !labels->is_null()) {
    if (!labels->is_object()) throw Error(what + ": config.Labels is not an object");
    for (const auto& [k, v] : labels->items()) {
      if (!v.is_string()) throw Error(what + ": label " + k + " is not a string");
      cfg.labels[k] = v.get<std::string>();
    }
  }
  return cfg;
}

namespace {

// A spec names a path when it exists, or when it is written like one.

ResolvedImage resolve_path(const std::string& spec) {
  char real[PATH_MAX];
  if (::realpath(spec.c_str(), real) == nullptr) {
    if (errno == ENOENT) throw Error("no such image (not a directory or SquashFS file)");
    throw_errno("resolve image", spec);
  }
  ResolvedImage img{spec, real, Format::Directory, {}};
  struct stat st {};
  if (::stat(real, &st) != 0) throw_errno("stat", real);
  if (S_ISDIR(st.st_mode)) {
    img.format = Format::Directory;
  } else if (S_ISREG(st.st_mode) && is_squashfs_file(real)) {
    img.format = Format::Squashfs;
  } else {
    throw Error("not an image (neither a directory nor a SquashFS file)");
  }
  // The config lives beside the image, as the store keeps it.
  std::string cfg_path = img.path + ".config.json";
  if (::access(cfg_path.c_str(), F_OK) == 0) img.config = parse_config(read_file(cfg_path), cfg_path);
  return img;
}

}  // namespace

std::vector<Store> stores() {
  std::vector<Store> out{Store(Store::user_root())};
  if (auto site = load_config().site_store) out.emplace_back(*site);
  return out;
}

std::optional<StoredImage> find_stored(const std::string& spec) {
  // As Docker: a name first, then an image id or a prefix of one; the
  // user's store first, then the site's.
  bool hex = spec.size() >= 4 && spec.find_first_not_of("0123456789abcdef") == std::string::npos;
  std::optional<Reference> ref;
  if (!is_digest(spec)) ref = parse_reference(spec);
  for (const Store& store : stores()) {
    if (ref)
      if (auto named = store.lookup(*ref)) return named;
    if (hex || !ref)
      if (auto by_id = store.lookup_id(spec)) return by_id;
  }
  return std::nullopt;
}

bool is_path_spec(const std::string& spec) {
  return spec[0] == '/' || spec.rfind("./", 0) == 0 || spec.rfind("../", 0) == 0 || spec == "." ||
         spec == ".." || ::access(spec.c_str(), F_OK) == 0;
}

std::optional<ResolvedImage> resolve_name(const std::string& spec) {
  auto stored = find_stored(spec);
  if (!stored) return std::nullopt;
  ResolvedImage img = resolve_path(stored->sqfs);
  img.name = spec;
  return img;
}

ResolvedImage resolve(const std::string& spec) {
  if (spec.empty()) throw Error("image name is empty");
  if (is_path_spec(spec)) return resolve_path(spec);
  auto img = resolve_name(spec);
  if (!img) throw Error("no such image in the store (ferry images lists them) and no such file");
  return std::move(*img);
}

}  // namespace ferry::image
