/// ferry's configuration (ARCHITECTURE.md decision 8): a typed struct, filled
/// from the site's file, then the user's, each parsed strictly: an unknown
/// table or key, or a value of the wrong type, is an error naming
/// FILE:LINE:COL. "Unset" (nullopt) differs from any value, so a later layer
/// overrides only what it sets. Defaults live in the accessors, here.
///
///   site: $FERRY_SITE_CONFIG, else /etc/ferry/ferry.toml
///   user: $XDG_CONFIG_HOME/ferry/ferry.toml, else ~/.config/ferry/ferry.toml
#pragma once

#include <optional>
#include <string>

namespace ferry {

struct Config {
  /// [store] site: a read-only store an administrator fills.
  std::optional<std::string> site_store;
  /// [import] zstd-level: compression level of new SquashFS files.
  std::optional<int> zstd_level;

  int zstd_level_or_default() const { return zstd_level.value_or(3); }
};

/// Reads the site and user files that exist (none is fine).
Config load_config();

/// Parses one file's text into `into` (only the keys it sets change).
/// `name` is used in messages. Throws Error on anything unknown or mistyped.
void parse_config_text(std::string_view text, const std::string& name, Config& into);

}  // namespace ferry
