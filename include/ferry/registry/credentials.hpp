/// Registry credentials (issue 4): where `ferry login` keeps them and where
/// pull and push find them. No network here. Both files ferry reads use
/// Docker's format, {"auths": {"KEY": {"auth": base64("user:pass")}}}, with
/// "username"/"password" accepted in place of "auth"; KEY is a domain or a
/// URL ("https://index.docker.io/v1/" means docker.io). Credential helpers
/// (credHelpers, credsStore) are not supported and are ignored.
///
/// Secrets never leave this module in a message: no error or log line holds
/// a password, an "auth" string or a file's contents.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace ferry::registry {

struct Credentials {
  std::string user, password;
};

/// ferry's credentials file: $FERRY_AUTH_FILE, else
/// $XDG_CONFIG_HOME/ferry/auth.json, else ~/.config/ferry/auth.json; empty
/// when neither XDG_CONFIG_HOME nor HOME is set (absolute).
std::string auth_file();

/// Parses --creds "USER:PASS", split at the first ':' (PASS may hold ':' or be
/// empty). "USER" alone or an empty USER throws an Error that never repeats
/// the input.
Credentials parse_creds(std::string_view user_colon_pass);

/// The credentials for REGISTRY (a domain as image::Reference::domain spells
/// it: "docker.io", "127.0.0.1:5000"), first found of:
///   1. explicit_creds (--creds);
///   2. $FERRY_REGISTRY_USER and $FERRY_REGISTRY_PASSWORD, for any registry
///      (batch jobs); one without the other is an Error;
///   3. auth_file();
///   4. Docker's $DOCKER_CONFIG/config.json, else ~/.docker/config.json.
/// nullopt means anonymous. A file that is missing is skipped; one that is
/// malformed is an Error naming it. Files after the first match are not read.
/// ENVIRONMENT false skips step 2 (for mirrors: the pair is meant for the
/// registry named, and is never sent to another host).
std::optional<Credentials> find_credentials(const std::string& registry,
                                            const std::optional<Credentials>& explicit_creds = {},
                                            bool environment = true);

/// Stores C for REGISTRY in auth_file() under the bare domain, replacing any
/// entry for it and keeping all others: written atomically, mode 0600, its
/// directory created 0700 if missing. Throws Error on failure or when the
/// user name is empty or holds ':'.
void save_credentials(const std::string& registry, const Credentials& c);

/// Removes every entry of auth_file() for REGISTRY (bare domain or URL key).
/// True when one was removed; false when there was none (or no file).
bool remove_credentials(const std::string& registry);

}  // namespace ferry::registry
