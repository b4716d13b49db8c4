/// The pieces of registry auth that are plain text processing, apart from
/// the network so they can be tested alone: WWW-Authenticate challenges
/// (RFC 7235, as registries send them), token responses (Docker's token
/// spec), Retry-After, and registry error bodies.
#pragma once

#include <algorithm>
#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace ferry::registry {

/// "Bearer realm="https://auth.docker.io/token",service="registry.docker.io""
struct Challenge {
  std::string scheme;                         ///< lowercase: "bearer", "basic"
  std::map<std::string, std::string> params;  ///< names lowercased; quotes removed

  std::string param(const std::string& name) const;
};

/// The first Bearer or Basic challenge of a WWW-Authenticate value (a
/// header may list several, comma separated); nothing when there is none.
std::optional<Challenge> parse_challenge(std::string_view header);

struct Token {
  std::string value;
  std::chrono::steady_clock::time_point expires;
  std::chrono::seconds lifetime{60};  ///< expires_in, as given

  /// True when the token should be replaced before its next use: within 5 s
  /// of expiring, or within half its lifetime for a token shorter than 10 s.
  bool stale(std::chrono::steady_clock::time_point now) const {
    return expires - std::min(std::chrono::seconds(5), lifetime / 2) <= now;
  }
};

/// A token service's JSON answer: "token" or "access_token", with
/// "expires_in" (seconds; 60 when absent, as the spec says). Throws an
/// Error naming WHAT when there is no token; never quotes the body.
Token parse_token(std::string_view body, const std::string& what,
                  std::chrono::steady_clock::time_point now = std::chrono::steady_clock::now());

/// Retry-After as seconds (delta-seconds or an HTTP date); nothing when
/// absent or unreadable. Capped at `cap` seconds.
std::optional<std::chrono::seconds> parse_retry_after(std::string_view value, std::chrono::seconds cap);

/// "MANIFEST_UNKNOWN: manifest unknown" from a registry's error body
/// ({"errors":[{"code","message"}]}), or "" when it is not one.
std::string registry_error_text(std::string_view body);

}  // namespace ferry::registry
