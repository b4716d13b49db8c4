#include "ferry/core/config.hpp"

#include <unistd.h>

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
  check_keys(root, name, "", {"store", "import"});
  if (const toml::table* store = sub_table(root, "store", name)) {
    check_keys(*store, name, "store", {"site"});
    if (const toml::node* site = store->get("site")) {
      auto v = site->value<std::string>();
      if (!v || v->empty() || (*v)[0] != '/')
        throw Error(fmt::format("{}: store.site must be an absolute path", where(name, site->source())));
      into.site_store = *v;
    }
  }
  if (const toml::table* imp = sub_table(root, "import", name)) {
    check_keys(*imp, name, "import", {"zstd-level"});
    if (const toml::node* level = imp->get("zstd-level")) {
      auto v = level->value<int64_t>();
      if (!level->is_integer() || !v || *v < 1 || *v > 22)
        throw Error(fmt::format("{}: import.zstd-level must be an integer from 1 to 22", where(name, level->source())));
      into.zstd_level = static_cast<int>(*v);
    }
  }
}

Config load_config() {
  Config c;
  const char* site_env = std::getenv("FERRY_SITE_CONFIG");
  std::string site = (site_env && *site_env) ? site_env : "/etc/ferry/ferry.toml";
  for (const std::string& path : {site, user_config_path()}) {
    if (path.empty() || ::access(path.c_str(), F_OK) != 0) continue;
    parse_config_text(read_file(path), path, c);
  }
  return c;
}

}  // namespace ferry
