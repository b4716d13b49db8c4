#include "ferry/core/config.hpp"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fmt/format.h>

// Header-only: the packaged shared libtomlplusplus would be one more library
// to load at every container start (cmake/StaticDeps.cmake).
#define TOML_HEADER_ONLY 1
#define TOML_EXCEPTIONS 0
#include <toml++/toml.h>

#include "ferry/core/error.hpp"
#include "ferry/core/fd.hpp"

namespace ferry {
namespace {

std::string where(const std::string& name, const toml::source_region& r) {
  return fmt::format("{}:{}:{}", name, r.begin.line, r.begin.column);
}

void check_keys(const toml::table& t, const std::string& name, const std::string& table,
                std::initializer_list<std::string_view> known) {
  for (const auto& [key, node] : t) {
    (void)node;
    bool ok = false;
    for (auto k : known) ok = ok || key.str() == k;
    if (!ok)
      throw Error(fmt::format("{}: unknown key '{}'{}", where(name, key.source()), key.str(),
                              table.empty() ? "" : " in [" + table + "]"));
  }
}

const toml::table* sub_table(const toml::table& root, const char* key, const std::string& name) {
  const toml::node* n = root.get(key);
  if (n == nullptr) return nullptr;
  if (!n->is_table()) throw Error(fmt::format("{}: '{}' must be a table", where(name, n->source()), key));
  return n->as_table();
}

int int_in_range(const toml::node& n, const std::string& name, const char* key, int lo, int hi) {
  auto v = n.value<int64_t>();
  if (!n.is_integer() || !v || *v < lo || *v > hi)
    throw Error(fmt::format("{}: {} must be an integer from {} to {}", where(name, n.source()), key, lo, hi));
  return static_cast<int>(*v);
}

// host[:port] as a registry domain is spelt: a DNS name or IPv4 address (or
// a bracketed IPv6 address), then an optional port. No scheme, no path.
bool is_host_port(std::string_view s) {
  auto is_digit = [](char c) { return c >= '0' && c <= '9'; };
  std::string_view host = s;
  if (auto colon = s.rfind(':');
      colon != std::string_view::npos && s.find(']', colon) == std::string_view::npos) {
    std::string_view port = s.substr(colon + 1);
    if (port.empty() || port.size() > 5 || !std::all_of(port.begin(), port.end(), is_digit)) return false;
    host = s.substr(0, colon);
  }
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    return std::all_of(host.begin() + 1, host.end() - 1, [](char c) {
      return std::isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.';
    });
  return !host.empty() && host.front() != '.' && host.front() != '-' &&
         std::all_of(host.begin(), host.end(), [](char c) {
           return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_';
         });
}

// KEY's value N: an absolute path.
std::string required_absolute_path(const toml::node& n, const std::string& name, const std::string& key) {
  auto v = n.value<std::string>();
  if (!v || v->empty() || (*v)[0] != '/')
    throw Error(fmt::format("{}: {} must be an absolute path", where(name, n.source()), key));
  return *v;
}

std::vector<std::string> string_list(const toml::node& n, const std::string& name, const std::string& key);

// KEY's value N: an array of absolute paths.
std::vector<std::string> required_absolute_paths(const toml::node& n, const std::string& name, const std::string& key) {
  auto out = string_list(n, name, key);
  for (const auto& v : out)
    if (v[0] != '/') throw Error(fmt::format("{}: {} must be absolute paths", where(name, n.source()), key));
  return out;
}

void parse_store(const toml::table& store, const std::string& name, Config& into) {
  check_keys(store, name, "store", {"site"});
  if (const toml::node* site = store.get("site")) into.site_store = required_absolute_path(*site, name, "store.site");
}

void parse_pull(const toml::table& pull, const std::string& name, Config& into) {
  check_keys(pull, name, "pull", {"jobs", "retries", "timeout"});
  if (const toml::node* n = pull.get("jobs")) into.pull_jobs = int_in_range(*n, name, "pull.jobs", 1, 64);
  if (const toml::node* n = pull.get("retries"))
    into.pull_retries = int_in_range(*n, name, "pull.retries", 0, 20);
  if (const toml::node* n = pull.get("timeout"))
    into.pull_timeout = int_in_range(*n, name, "pull.timeout", 1, 3600);
}

void parse_mounts(const toml::table& mounts, const std::string& name, Config& into) {
  check_keys(mounts, name, "mounts", {"share", "grace"});
  if (const toml::node* n = mounts.get("share")) {
    if (!n->is_boolean())
      throw Error(fmt::format("{}: mounts.share must be true or false", where(name, n->source())));
    into.mounts_share = n->as_boolean()->get();
  }
  if (const toml::node* n = mounts.get("grace")) into.mounts_grace = int_in_range(*n, name, "mounts.grace", 0, 86400);
}

void parse_cache(const toml::table& cache, const std::string& name, Config& into) {
  check_keys(cache, name, "cache", {"dir"});
  if (const toml::node* n = cache.get("dir")) into.cache_dir = required_absolute_path(*n, name, "cache.dir");
}

// One [registries."DOMAIN"] table; its keys override the earlier file's.
void parse_registry(const toml::table& t, const std::string& domain, const std::string& name,
                    RegistryConfig& into) {
  std::string table = fmt::format("registries.\"{}\"", domain);
  check_keys(t, name, table, {"mirrors", "insecure", "ca-file"});
  if (const toml::node* n = t.get("mirrors")) {
    const toml::array* arr = n->as_array();
    if (arr == nullptr)
      throw Error(fmt::format("{}: {}.mirrors must be an array of host[:port] strings",
                              where(name, n->source()), table));
    std::vector<std::string> mirrors;
    for (const toml::node& m : *arr) {
      auto v = m.value<std::string>();
      if (!m.is_string() || !v || !is_host_port(*v))
        throw Error(fmt::format("{}: {}.mirrors must be host[:port] strings, without scheme or '/'",
                                where(name, m.source()), table));
      mirrors.push_back(*v);
    }
    into.mirrors = std::move(mirrors);
  }
  if (const toml::node* n = t.get("insecure")) {
    if (!n->is_boolean())
      throw Error(fmt::format("{}: {}.insecure must be true or false", where(name, n->source()), table));
    into.insecure = n->value<bool>();
  }
  if (const toml::node* n = t.get("ca-file")) into.ca_file = required_absolute_path(*n, name, table + ".ca-file");
}

void parse_registries(const toml::table& regs, const std::string& name, Config& into) {
  for (const auto& [key, node] : regs) {
    std::string domain(key.str());
    if (!is_host_port(domain))
      throw Error(fmt::format("{}: registry '{}' must be host[:port], without scheme or '/'",
                              where(name, key.source()), domain));
    if (!node.is_table())
      throw Error(fmt::format("{}: 'registries.\"{}\"' must be a table", where(name, node.source()), domain));
    parse_registry(*node.as_table(), domain, name, into.registries[domain]);
  }
}

std::vector<std::string> string_list(const toml::node& n, const std::string& name, const std::string& key) {
  const toml::array* arr = n.as_array();
  std::vector<std::string> out;
  if (arr != nullptr)
    for (const toml::node& e : *arr) {
      auto v = e.value<std::string>();
      if (!e.is_string() || !v || v->empty()) {
        arr = nullptr;
        break;
      }
      out.push_back(*v);
    }
  if (arr == nullptr)
    throw Error(fmt::format("{}: {} must be an array of non-empty strings", where(name, n.source()), key));
  return out;
}

// [mpi] default = "NAME", and one [mpi.NAME] table per profile.
void parse_mpi(const toml::table& mpi, const std::string& name, Config& into) {
  for (const auto& [key, node] : mpi) {
    std::string k(key.str());
    if (k == "default") {
      auto v = node.value<std::string>();
      if (!node.is_string() || !v || v->empty())
        throw Error(fmt::format("{}: mpi.default must be a profile name", where(name, node.source())));
      into.mpi_default = *v;
      continue;
    }
    if (!node.is_table())
      throw Error(fmt::format("{}: 'mpi.{}' must be a table (a profile) or 'default'", where(name, node.source()), k));
    const toml::table& t = *node.as_table();
    std::string table = "mpi." + k;
    check_keys(t, name, table, {"libraries", "plugin-dirs", "devices", "env", "mounts"});
    MpiProfileConfig& p = into.mpi_profiles[k];
    if (const toml::node* n = t.get("libraries")) p.libraries = required_absolute_paths(*n, name, table + ".libraries");
    if (const toml::node* n = t.get("plugin-dirs")) p.plugin_dirs = required_absolute_paths(*n, name, table + ".plugin-dirs");
    if (const toml::node* n = t.get("devices")) p.devices = required_absolute_paths(*n, name, table + ".devices");
    if (const toml::node* n = t.get("env")) p.env = string_list(*n, name, table + ".env");
    if (const toml::node* n = t.get("mounts")) p.mounts = string_list(*n, name, table + ".mounts");
  }
}

// [cdi] spec-dirs = ["/etc/cdi", ...] and [gpu] driver-root = "/": absolute paths.
void parse_devices(const toml::table* cdi, const toml::table* gpu, const std::string& name, Config& into) {
  if (cdi != nullptr) {
    check_keys(*cdi, name, "cdi", {"spec-dirs"});
    if (const toml::node* n = cdi->get("spec-dirs")) into.cdi_spec_dirs = required_absolute_paths(*n, name, "cdi.spec-dirs");
  }
  if (gpu != nullptr) {
    check_keys(*gpu, name, "gpu", {"driver-root"});
    if (const toml::node* n = gpu->get("driver-root")) into.gpu_driver_root = required_absolute_path(*n, name, "gpu.driver-root");
  }
}

std::string user_config_path() {
  if (const char* x = std::getenv("XDG_CONFIG_HOME"); x && *x == '/') return std::string(x) + "/ferry/ferry.toml";
  if (const char* h = std::getenv("HOME"); h && *h == '/') return std::string(h) + "/.config/ferry/ferry.toml";
  return {};
}

}  // namespace

void parse_config_text(std::string_view text, const std::string& name, Config& into) {
  toml::parse_result parsed = toml::parse(text, name);
  if (!parsed) {
    const auto& err = parsed.error();
    throw Error(fmt::format("{}: {}", where(name, err.source()), err.description()));
  }
  const toml::table& root = parsed.table();
  check_keys(root, name, "", {"store", "import", "pull", "mounts", "registries", "mpi", "cache", "cdi", "gpu"});
  if (const toml::table* store = sub_table(root, "store", name)) parse_store(*store, name, into);
  if (const toml::table* imp = sub_table(root, "import", name)) {
    check_keys(*imp, name, "import", {"zstd-level"});
    if (const toml::node* level = imp->get("zstd-level"))
      into.zstd_level = int_in_range(*level, name, "import.zstd-level", 1, 22);
  }
  if (const toml::table* pull = sub_table(root, "pull", name)) parse_pull(*pull, name, into);
  if (const toml::table* mounts = sub_table(root, "mounts", name)) parse_mounts(*mounts, name, into);
  if (const toml::table* cache = sub_table(root, "cache", name)) parse_cache(*cache, name, into);
  if (const toml::table* regs = sub_table(root, "registries", name)) parse_registries(*regs, name, into);
  if (const toml::table* mpi = sub_table(root, "mpi", name)) parse_mpi(*mpi, name, into);
  parse_devices(sub_table(root, "cdi", name), sub_table(root, "gpu", name), name, into);
}

const Config& load_config() {
  // Read once per process: a ferry command is short-lived, and a container
  // start asks twice (the store lookup, then [mounts]).
  static const Config loaded = [] {
    Config c;
    const char* site_env = std::getenv("FERRY_SITE_CONFIG");
    std::string site = (site_env && *site_env) ? site_env : "/etc/ferry/ferry.toml";
    for (const std::string& path : {site, user_config_path()}) {
      if (path.empty() || ::access(path.c_str(), F_OK) != 0) continue;
      parse_config_text(read_file(path), path, c);
    }
    return c;
  }();
  return loaded;
}

}  // namespace ferry
