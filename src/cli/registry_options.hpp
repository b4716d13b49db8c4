// Options every command that talks to a registry shares (pull, push, login,
// and run's implicit pull), and the pull that `ferry run` does for a name
// not in the store.
#pragma once

#include <string>

#include "ferry/registry/client.hpp"

namespace CLI {
class App;
}

namespace ferry::cli {

struct RegistryOptions {
  std::string creds;       ///< --creds USER:PASS
  std::string tls_verify;  ///< --tls-verify=true|false; empty: not given
};

void add_registry_options(CLI::App& sub, RegistryOptions& o);

/// The client options O and ferry.toml give. Throws on a bad value.
registry::ClientOptions client_options(const RegistryOptions& o);

/// Pulls NAME into the user's store; returns the image id.
std::string pull_into_store(const std::string& name, const RegistryOptions& o, const std::string& platform, bool quiet);

}  // namespace ferry::cli
