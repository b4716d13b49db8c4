/// ferry's configuration (ARCHITECTURE.md decision 8): a typed struct, filled
/// from the site's file, then the user's, each parsed strictly: an unknown
/// table or key, or a value of the wrong type, is an error naming
/// FILE:LINE:COL. "Unset" (nullopt) differs from any value, so a later layer
/// overrides only what it sets. Defaults live in the accessors, here.
///
///   site: $FERRY_SITE_CONFIG, else /etc/ferry/ferry.toml
///   user: $XDG_CONFIG_HOME/ferry/ferry.toml, else ~/.config/ferry/ferry.toml
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ferry {

/// [registries."DOMAIN"]: how to reach one registry (or one mirror). DOMAIN is
/// spelt as image::Reference::domain spells it ("docker.io", "host:5000").
struct RegistryConfig {
  /// mirrors: host[:port] tried first, in order; the origin is the fallback.
  /// A file that sets it replaces the earlier list ([] clears it).
  std::vector<std::string> mirrors;
  /// insecure: plain http and unverified TLS allowed for this registry only.
  std::optional<bool> insecure;
  /// ca-file: extra CA certificates (PEM), an absolute path.
  std::optional<std::string> ca_file;

  bool insecure_or_default() const { return insecure.value_or(false); }
};

/// [mpi.NAME]: one host MPI that `ferry run --mpi=NAME` injects
/// (docs/design/mpi.md). A later file's key replaces an earlier one's.
struct MpiProfileConfig {
  std::optional<std::vector<std::string>> libraries;    ///< host MPICH-ABI libraries, absolute
  std::optional<std::vector<std::string>> plugin_dirs;  ///< host dirs of dlopen()ed modules (UCX)
  std::optional<std::vector<std::string>> devices;      ///< bound when present, device nodes kept
  std::optional<std::vector<std::string>> env;          ///< NAME, PREFIX* (passed), NAME=VALUE (set)
  std::optional<std::vector<std::string>> mounts;       ///< SRC[:DST[:ro|rw]]
};

struct Config {
  /// [mpi] default: the profile plain --mpi uses.
  std::optional<std::string> mpi_default;
  /// [mpi.NAME]
  std::map<std::string, MpiProfileConfig> mpi_profiles;
  /// [store] site: a read-only store an administrator fills.
  std::optional<std::string> site_store;
  /// [import] zstd-level: compression level of new SquashFS files.
  std::optional<int> zstd_level;
  /// [pull] jobs: layers downloaded in parallel (1-64).
  std::optional<int> pull_jobs;
  /// [pull] retries: attempts after the first on connection errors, 5xx, 429 (0-20).
  std::optional<int> pull_retries;
  /// [pull] timeout: seconds a transfer may receive nothing, and the connect timeout (1-3600).
  std::optional<int> pull_timeout;
  /// [mounts] share: containers of a SquashFS image join the node's mount holder.
  std::optional<bool> mounts_share;
  /// [mounts] grace: seconds a holder lingers after its last container (0-86400).
  std::optional<int> mounts_grace;
  /// [cache] dir: node-local directory backing per-node caches (absolute);
  /// unset: $TMPDIR, else /tmp (hpc::cache_dir).
  std::optional<std::string> cache_dir;
  /// [cdi] spec-dirs: CDI spec directories, later ones win (absolute);
  /// unset: /etc/cdi, /var/run/cdi (hpc::cdi::default_spec_dirs).
  std::optional<std::vector<std::string>> cdi_spec_dirs;
  /// [gpu] driver-root: where --gpus finds the NVIDIA driver without a CDI
  /// spec (its /dev, /etc/ld.so.cache, libraries and tools; absolute).
  std::optional<std::string> gpu_driver_root;
  /// [registries."DOMAIN"]: a later file's entry merges over an earlier one's.
  std::map<std::string, RegistryConfig> registries;

  int zstd_level_or_default() const { return zstd_level.value_or(3); }
  int pull_jobs_or_default() const { return pull_jobs.value_or(4); }
  int pull_retries_or_default() const { return pull_retries.value_or(5); }
  int pull_timeout_or_default() const { return pull_timeout.value_or(30); }
  bool mounts_share_or_default() const { return mounts_share.value_or(true); }
  int mounts_grace_or_default() const { return mounts_grace.value_or(60); }
  std::string gpu_driver_root_or_default() const { return gpu_driver_root.value_or("/"); }

  /// The settings for DOMAIN (exact match), or nullptr when none are configured.
  const RegistryConfig* registry(const std::string& domain) const {
    auto it = registries.find(domain);
    return it == registries.end() ? nullptr : &it->second;
  }
};

/// Reads the site and user files that exist (none is fine), once per
/// process: later calls return the same settings. A malformed file throws
/// at every call.
const Config& load_config();

/// Parses one file's text into `into` (only the keys it sets change).
/// `name` is used in messages. Throws Error on anything unknown or mistyped.
void parse_config_text(std::string_view text, const std::string& name, Config& into);

}  // namespace ferry
