#include "ferry/registry/credentials.hpp"
#include "ferry/registry/http.hpp"

#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <vector>

#include "ferry/core/error.hpp"
#include "ferry/core/fd.hpp"
#include "ferry/core/file_lock.hpp"
#include "ferry/core/log.hpp"

namespace ferry::registry {
namespace {

using nlohmann::json;

constexpr std::string_view kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// Padded or unpadded base64; nullopt on any other character or length.
std::optional<std::string> base64_decode(std::string_view in) {
  size_t end = in.size();
  while (end > 0 && in[end - 1] == '=') --end;
  if (in.size() - end > 2) return std::nullopt;
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < end; ++i) {
    auto pos = kAlphabet.find(in[i]);
    if (pos == std::string_view::npos) return std::nullopt;
    acc = (acc << 6) | static_cast<uint32_t>(pos);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  if (bits >= 6) return std::nullopt;  // one stray character: not a whole byte
  return out;
}

// "https://index.docker.io/v1/" -> "docker.io": scheme and path dropped,
// lowercased, Docker Hub's other names mapped to the one references use.
std::string registry_key(std::string_view key) {
  if (auto p = key.find("://"); p != std::string_view::npos) key = key.substr(p + 3);
  std::string k(key.substr(0, key.find('/')));
  std::transform(k.begin(), k.end(), k.begin(), [](unsigned char c) { return std::tolower(c); });
  if (k == "index.docker.io" || k == "registry-1.docker.io") return "docker.io";
  return k;
}

// The message names the file and what is wrong, never the file's text
// (nlohmann's parse errors quote it, so they are not passed on).
Error malformed(const std::string& path, std::string_view why) {
  return Error(fmt::format("{}: malformed credentials file: {}", path, why));
}

// The parsed file, or nullopt when it does not exist.
std::optional<json> read_auth_json(const std::string& path) {
  std::string text;
  try {
    text = read_file(path);
  } catch (const Error& e) {
    if (e.err() == ENOENT || e.err() == ENOTDIR) return std::nullopt;
    throw;
  }
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) throw malformed(path, "not valid JSON");
  if (!j.is_object()) throw malformed(path, "not a JSON object");
  if (auto a = j.find("auths"); a != j.end()) {
    if (!a->is_object()) throw malformed(path, "'auths' is not an object");
    for (const auto& [key, entry] : a->items())
      if (!entry.is_object()) throw malformed(path, fmt::format("entry '{}' is not an object", key));
  }
  return j;
}

// One auths entry; nullopt when it holds nothing ferry can use (an empty
// entry beside credsStore, an identity token for a helper).
std::optional<Credentials> entry_credentials(const json& e, const std::string& key, const std::string& path) {
  auto bad = [&](std::string_view why) { return malformed(path, fmt::format("entry '{}': {}", key, why)); };
  if (e.contains("identitytoken")) {
    log::debug(fmt::format("{}: entry '{}' holds an identity token, which ferry does not use", path, key));
    return std::nullopt;
  }
  if (auto a = e.find("auth");
      a != e.end() && !(a->is_string() && a->get_ref<const std::string&>().empty())) {
    if (!a->is_string()) throw bad("'auth' is not a string");
    auto plain = base64_decode(a->get_ref<const std::string&>());
    if (!plain) throw bad("'auth' is not base64");
    auto colon = plain->find(':');
    if (colon == std::string::npos || colon == 0) throw bad("'auth' is not base64 of USER:PASSWORD");
    return Credentials{plain->substr(0, colon), plain->substr(colon + 1)};
  }
  auto u = e.find("username"), p = e.find("password");
  if (u == e.end() && p == e.end()) return std::nullopt;
  if (u == e.end() || p == e.end() || !u->is_string() || !p->is_string() ||
      u->get_ref<const std::string&>().empty())
    throw bad("'username' and 'password' must both be strings, the user name not empty");
  return Credentials{u->get<std::string>(), p->get<std::string>()};
}

// REGISTRY's credentials in PATH: the entry keyed by the bare domain first,
// then the others that name it (URL forms, Docker Hub's aliases) in key order.
std::optional<Credentials> from_file(const std::string& path, const std::string& registry) {
  std::optional<json> j = read_auth_json(path);
  if (!j) return std::nullopt;
  std::string want = registry_key(registry);
  std::vector<std::pair<std::string, const json*>> candidates;
  if (auto a = j->find("auths"); a != j->end())
    for (const auto& [key, entry] : a->items()) {
      if (registry_key(key) != want) continue;
      if (key == want)
        candidates.insert(candidates.begin(), {key, &entry});
      else
        candidates.emplace_back(key, &entry);
    }
  for (const auto& [key, entry] : candidates)
    if (auto c = entry_credentials(*entry, key, path)) {
      log::debug(fmt::format("credentials for {} from {}", want, path));
      return c;
    }
  if (j->contains("credHelpers") || j->contains("credsStore"))
    log::debug(fmt::format("{}: credential helpers are not supported; ignored for {}", path, want));
  return std::nullopt;
}

// The FERRY_REGISTRY_USER/PASSWORD pair; half of it is a mistake worth stopping for.
std::optional<Credentials> from_environment() {
  const char* user = std::getenv("FERRY_REGISTRY_USER");
  const char* pass = std::getenv("FERRY_REGISTRY_PASSWORD");
  bool has_user = user != nullptr && *user != '\0';
  if (!has_user && pass == nullptr) return std::nullopt;
  if (!has_user) throw Error("FERRY_REGISTRY_PASSWORD is set but FERRY_REGISTRY_USER is not");
  if (pass == nullptr) throw Error("FERRY_REGISTRY_USER is set but FERRY_REGISTRY_PASSWORD is not");
  log::debug("credentials from FERRY_REGISTRY_USER and FERRY_REGISTRY_PASSWORD");
  return Credentials{user, pass};
}

std::string docker_config_file() {
  if (const char* d = std::getenv("DOCKER_CONFIG"); d && *d) return std::string(d) + "/config.json";
  if (const char* h = std::getenv("HOME"); h && *h == '/') return std::string(h) + "/.docker/config.json";
  return {};
}

std::string auth_file_or_throw() {
  std::string path = auth_file();
  if (path.empty()) throw Error("cannot find the credentials file: set FERRY_AUTH_FILE or HOME");
  return path;
}

// mkdir -p of the directory holding PATH; what it creates is private (0700).
void make_parent_dirs(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos || slash == 0) return;
  for (size_t i = 1; i <= slash; ++i)
    if (i == slash || path[i] == '/') {
      std::string part = path.substr(0, i);
      if (::mkdir(part.c_str(), 0700) != 0 && errno != EEXIST) throw_errno("mkdir", part);
    }
}

// Erases every auths entry naming REGISTRY; the number erased.
size_t erase_entries(json& auths, const std::string& registry) {
  std::vector<std::string> keys;
  for (const auto& [key, entry] : auths.items())
    if (registry_key(key) == registry) keys.push_back(key);
  for (const auto& k : keys) auths.erase(k);
  return keys.size();
}

void write_auth_json(const std::string& path, const json& j) {
  // Tabs, as Docker writes config.json; invalid UTF-8 cannot make dump() throw.
  write_file_atomic(path, j.dump(1, '\t', false, json::error_handler_t::replace) + "\n", 0600);
}

}  // namespace

std::string auth_file() {
  if (const char* f = std::getenv("FERRY_AUTH_FILE"); f && *f) return f;
  if (const char* x = std::getenv("XDG_CONFIG_HOME"); x && *x == '/')
    return std::string(x) + "/ferry/auth.json";
  if (const char* h = std::getenv("HOME"); h && *h == '/') return std::string(h) + "/.config/ferry/auth.json";
  return {};
}

Credentials parse_creds(std::string_view user_colon_pass) {
  auto colon = user_colon_pass.find(':');
  if (colon == std::string_view::npos) throw Error("credentials must be USER:PASSWORD (no ':' found)");
  if (colon == 0) throw Error("credentials must be USER:PASSWORD (the user name is empty)");
  return Credentials{std::string(user_colon_pass.substr(0, colon)),
                     std::string(user_colon_pass.substr(colon + 1))};
}

std::optional<Credentials> find_credentials(const std::string& registry,
                                            const std::optional<Credentials>& explicit_creds, bool environment) {
  if (explicit_creds) return explicit_creds;
  if (environment)
    if (auto c = from_environment()) return c;
  for (const std::string& path : {auth_file(), docker_config_file()}) {
    if (path.empty()) continue;
    if (auto c = from_file(path, registry)) return c;
  }
  return std::nullopt;
}

void save_credentials(const std::string& registry, const Credentials& c) {
  std::string key = registry_key(registry);
  if (key.empty()) throw Error("login: no registry given");
  if (c.user.empty() || c.user.find(':') != std::string::npos)
    throw Error("login " + key + ": the user name must be non-empty and hold no ':'");
  std::string path = auth_file_or_throw();
  make_parent_dirs(path);
  FileLock lock(path + ".lock");  // two logins at once must not lose an entry
  json j = read_auth_json(path).value_or(json::object());
  json& auths = j["auths"];
  if (auths.is_null()) auths = json::object();
  erase_entries(auths, key);
  auths[key] = {{"auth", base64_encode(c.user + ":" + c.password)}};
  write_auth_json(path, j);
}

bool remove_credentials(const std::string& registry) {
  std::string key = registry_key(registry);
  std::string path = auth_file_or_throw();
  if (::access(path.c_str(), F_OK) != 0) return false;
  FileLock lock(path + ".lock");
  std::optional<json> j = read_auth_json(path);
  if (!j || !j->contains("auths") || erase_entries((*j)["auths"], key) == 0) return false;
  write_auth_json(path, *j);
  return true;
}

}  // namespace ferry::registry
