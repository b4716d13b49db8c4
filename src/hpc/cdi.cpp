// CDI spec parsing: JSON and YAML into one document model (nlohmann::json),
// then one strict reader for both. Field names and versions follow
// cncf-tags/container-device-interface SPEC.md (spec 0.8.0).
#include "ferry/hpc/cdi.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "ferry/core/error.hpp"

namespace ferry::hpc::cdi {
namespace {

using json = nlohmann::json;

bool is_alnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }

// Letters, digits and EXTRA inside; letters or digits at both ends.
bool segment_ok(std::string_view s, std::string_view extra, size_t max) {
  if (s.empty() || s.size() > max || !is_alnum(s.front()) || !is_alnum(s.back())) return false;
  return std::all_of(s.begin(), s.end(), [&](char c) { return is_alnum(c) || extra.find(c) != std::string_view::npos; });
}

// --- YAML to the JSON model ------------------------------------------------

// A plain (unquoted) YAML scalar as YAML 1.2's core schema reads it; the
// integers CDI uses may be written in octal (fileMode: 0o666, or 0666 as
// YAML 1.1 tools write it) or hex.
json yaml_scalar(const YAML::Node& n) {
  const std::string& s = n.Scalar();
  if (n.Tag() != "?") return s;  // quoted or explicitly tagged: a string
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
  std::string_view v = s;
  bool neg = !v.empty() && v[0] == '-';
  if (neg || (!v.empty() && v[0] == '+')) v.remove_prefix(1);
  int base = 10;
  if (v.size() > 2 && v[0] == '0' && (v[1] == 'x' || v[1] == 'X')) base = 16, v.remove_prefix(2);
  else if (v.size() > 2 && v[0] == '0' && v[1] == 'o') base = 8, v.remove_prefix(2);
  else if (v.size() > 1 && v[0] == '0') base = 8, v.remove_prefix(1);
  int64_t out = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), out, base);
  if (!v.empty() && ec == std::errc() && end == v.data() + v.size()) return neg ? -out : out;
  return s;
}

json yaml_to_json(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return nullptr;
    case YAML::NodeType::Scalar:
      return yaml_scalar(n);
    case YAML::NodeType::Sequence: {
      json arr = json::array();
      for (const auto& e : n) arr.push_back(yaml_to_json(e));
      return arr;
    }
    case YAML::NodeType::Map: {
      json obj = json::object();
      for (const auto& kv : n) obj[kv.first.Scalar()] = yaml_to_json(kv.second);
      return obj;
    }
  }
  return nullptr;
}

json parse_document(std::string_view text, const std::string& path) {
  if (path.ends_with(".json")) {
    json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (doc.is_discarded()) throw Error(fmt::format("CDI spec {}: not valid JSON", path));
    return doc;
  }
  try {
    return yaml_to_json(YAML::Load(std::string(text)));
  } catch (const YAML::Exception& e) {
    throw Error(fmt::format("CDI spec {}: not valid YAML: line {}: {}", path, e.mark.line + 1, e.msg));
  }
}

// --- the strict reader -------------------------------------------------------

// Reads one object, naming the field path ("devices[0].containerEdits.env")
// in every complaint.
class Reader {
 public:
  explicit Reader(std::string file) : file_(std::move(file)) {}

  [[noreturn]] void fail(const std::string& where, const std::string& what) const {
    throw Error(fmt::format("CDI spec {}: {}{}{}", file_, where, where.empty() ? "" : ": ", what));
  }

  void keys(const json& obj, const std::string& where, std::initializer_list<std::string_view> known) const {
    if (!obj.is_object()) fail(where, "must be an object");
    for (const auto& [k, v] : obj.items()) {
      (void)v;
      if (std::find(known.begin(), known.end(), k) == known.end())
        fail(where, fmt::format("unknown field '{}'", k));
    }
  }

  std::string str(const json& obj, const char* key, const std::string& where, bool required) const {
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) {
      if (required) fail(where, fmt::format("'{}' is required", key));
      return {};
    }
    if (!it->is_string()) fail(where, fmt::format("'{}' must be a string", key));
    return it->get<std::string>();
  }

  std::vector<std::string> strings(const json& obj, const char* key, const std::string& where) const {
    std::vector<std::string> out;
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) return out;
    if (!it->is_array()) fail(where, fmt::format("'{}' must be a list of strings", key));
    for (const auto& e : *it) {
      if (!e.is_string()) fail(where, fmt::format("'{}' must be a list of strings", key));
      out.push_back(e.get<std::string>());
    }
    return out;
  }

  std::optional<int64_t> integer(const json& obj, const char* key, const std::string& where, int64_t lo,
                                 int64_t hi) const {
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) return std::nullopt;
    if (!it->is_number_integer() || it->get<int64_t>() < lo || it->get<int64_t>() > hi)
      fail(where, fmt::format("'{}' must be an integer from {} to {}", key, lo, hi));
    return it->get<int64_t>();
  }

  const json* list(const json& obj, const char* key, const std::string& where) const {
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) return nullptr;
    if (!it->is_array()) fail(where, fmt::format("'{}' must be a list", key));
    return &*it;
  }

 private:
  std::string file_;
};

void check_env(const Reader& r, const std::vector<std::string>& env, const std::string& where) {
  for (const auto& e : env)
    if (e.find('=') == std::string::npos || e.front() == '=')
      r.fail(where, fmt::format("env entry '{}' is not NAME=VALUE", e));
}

DeviceNode read_node(const Reader& r, const json& j, const std::string& where) {
  r.keys(j, where, {"path", "hostPath", "type", "major", "minor", "fileMode", "permissions", "uid", "gid"});
  DeviceNode d;
  d.path = r.str(j, "path", where, true);
  d.host_path = r.str(j, "hostPath", where, false);
  d.type = r.str(j, "type", where, false);
  d.major = r.integer(j, "major", where, 0, INT32_MAX);
  d.minor = r.integer(j, "minor", where, 0, INT32_MAX);
  if (auto m = r.integer(j, "fileMode", where, 0, 07777)) d.file_mode = static_cast<uint32_t>(*m);
  if (auto u = r.integer(j, "uid", where, 0, UINT32_MAX)) d.uid = static_cast<uint32_t>(*u);
  if (auto g = r.integer(j, "gid", where, 0, UINT32_MAX)) d.gid = static_cast<uint32_t>(*g);
  d.permissions = r.str(j, "permissions", where, false);
  if (!d.type.empty() && d.type != "c" && d.type != "b" && d.type != "u" && d.type != "p")
    r.fail(where, fmt::format("device type '{}' is not one of c, b, u, p", d.type));
  if (d.permissions.find_first_not_of("rwm") != std::string::npos)
    r.fail(where, fmt::format("permissions '{}' must be made of r, w, m", d.permissions));
  return d;
}

MountEdit read_mount(const Reader& r, const json& j, const std::string& where) {
  r.keys(j, where, {"hostPath", "containerPath", "type", "options"});
  return MountEdit{r.str(j, "hostPath", where, true), r.str(j, "containerPath", where, true),
                   r.str(j, "type", where, false), r.strings(j, "options", where)};
}

HookEdit read_hook(const Reader& r, const json& j, const std::string& where) {
  r.keys(j, where, {"hookName", "path", "args", "env", "timeout"});
  HookEdit h;
  h.hook_name = r.str(j, "hookName", where, true);
  h.path = r.str(j, "path", where, true);
  h.args = r.strings(j, "args", where);
  h.env = r.strings(j, "env", where);
  check_env(r, h.env, where);
  if (auto t = r.integer(j, "timeout", where, 1, 86400)) h.timeout = static_cast<int>(*t);
  if (h.path.empty() || h.path[0] != '/') r.fail(where, fmt::format("hook path '{}' must be absolute", h.path));
  return h;
}

template <typename T, typename F>
void read_list(const Reader& r, const json& obj, const char* key, const std::string& where, std::vector<T>& out,
               F read) {
  if (const json* arr = r.list(obj, key, where))
    for (size_t i = 0; i < arr->size(); ++i) out.push_back(read(r, (*arr)[i], fmt::format("{}.{}[{}]", where, key, i)));
}

Edits read_edits(const Reader& r, const json& j, const std::string& where) {
  r.keys(j, where, {"env", "deviceNodes", "mounts", "hooks", "additionalGIDs", "intelRdt"});
  Edits e;
  e.env = r.strings(j, "env", where);
  check_env(r, e.env, where);
  read_list(r, j, "deviceNodes", where, e.device_nodes, read_node);
  read_list(r, j, "mounts", where, e.mounts, read_mount);
  read_list(r, j, "hooks", where, e.hooks, read_hook);
  if (const json* gids = r.list(j, "additionalGIDs", where))
    for (const auto& g : *gids) {
      if (!g.is_number_unsigned() || g.get<uint64_t>() > UINT32_MAX)
        r.fail(where, "'additionalGIDs' must be a list of group ids");
      e.additional_gids.push_back(g.get<uint32_t>());
    }
  e.intel_rdt = j.contains("intelRdt") && !j["intelRdt"].is_null();
  return e;
}

}  // namespace

bool valid_kind(std::string_view kind) {
  auto slash = kind.find('/');
  if (slash == std::string_view::npos) return false;
  std::string_view vendor = kind.substr(0, slash), cls = kind.substr(slash + 1);
  return segment_ok(vendor, "-_.", 253) && segment_ok(cls, "-_.", 63);
}

bool valid_device_name(std::string_view name) { return segment_ok(name, "-_.:", 255); }

std::optional<QualifiedName> parse_qualified_name(std::string_view s) {
  auto eq = s.find('=');
  if (eq == std::string_view::npos) return std::nullopt;
  std::string_view kind = s.substr(0, eq), name = s.substr(eq + 1);
  if (!valid_kind(kind) || !valid_device_name(name)) return std::nullopt;
  auto slash = kind.find('/');
  return QualifiedName{std::string(kind.substr(0, slash)), std::string(kind.substr(slash + 1)), std::string(name)};
}

bool supported_version(std::string_view v) {
  // 0.MINOR.PATCH with MINOR 3 to 8; nothing after the patch number.
  if (v.size() < 5 || v.substr(0, 2) != "0.") return false;
  v.remove_prefix(2);
  auto dot = v.find('.');
  if (dot == std::string_view::npos) return false;
  int minor = -1, patch = -1;
  auto r1 = std::from_chars(v.data(), v.data() + dot, minor);
  auto r2 = std::from_chars(v.data() + dot + 1, v.data() + v.size(), patch);
  return r1.ec == std::errc() && r1.ptr == v.data() + dot && r2.ec == std::errc() &&
         r2.ptr == v.data() + v.size() && minor >= 3 && minor <= 8 && patch >= 0;
}

Spec parse_spec(std::string_view text, const std::string& path) {
  json doc = parse_document(text, path);
  Reader r(path);
  r.keys(doc, "", {"cdiVersion", "kind", "annotations", "devices", "containerEdits"});
  Spec spec;
  spec.path = path;
  spec.version = r.str(doc, "cdiVersion", "", true);
  if (!supported_version(spec.version))
    r.fail("", fmt::format("unsupported cdiVersion '{}' (ferry reads 0.3.0 to 0.8.x)", spec.version));
  spec.kind = r.str(doc, "kind", "", true);
  if (!valid_kind(spec.kind)) r.fail("", fmt::format("kind '{}' is not vendor.com/class", spec.kind));
  const json* devices = r.list(doc, "devices", "");
  if (devices == nullptr || devices->empty()) r.fail("", "'devices' must list at least one device");
  for (size_t i = 0; i < devices->size(); ++i) {
    std::string where = fmt::format("devices[{}]", i);
    const json& d = (*devices)[i];
    r.keys(d, where, {"name", "annotations", "containerEdits"});
    Device dev;
    dev.name = r.str(d, "name", where, true);
    if (!valid_device_name(dev.name)) r.fail(where, fmt::format("invalid device name '{}'", dev.name));
    for (const auto& other : spec.devices)
      if (other.name == dev.name) r.fail(where, fmt::format("device '{}' is defined twice", dev.name));
    if (d.contains("containerEdits") && !d["containerEdits"].is_null())
      dev.edits = read_edits(r, d["containerEdits"], where + ".containerEdits");
    spec.devices.push_back(std::move(dev));
  }
  if (doc.contains("containerEdits") && !doc["containerEdits"].is_null())
    spec.edits = read_edits(r, doc["containerEdits"], "containerEdits");
  return spec;
}

}  // namespace ferry::hpc::cdi
