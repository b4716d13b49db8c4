/// A distribution-spec client for one repository (distribution-spec
/// spec.md): where to connect (mirrors first for pulls, then the registry;
/// https, or plain http only where allowed), auth (anonymous, Basic, and
/// the Bearer token flow with tokens reused per scope until they expire),
/// and retries (connection errors and 5xx with backoff, 429 after its
/// Retry-After). Shared by the download workers: the auth state is locked;
/// each worker brings its own HttpSession.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ferry/core/config.hpp"
#include "ferry/image/reference.hpp"
#include "ferry/registry/credentials.hpp"
#include "ferry/registry/http.hpp"

namespace ferry::registry {

struct ClientOptions {
  std::optional<Credentials> creds;  ///< --creds; else looked up (credentials.hpp)
  std::optional<bool> tls_verify;    ///< --tls-verify; false allows http and unverified TLS
  Config config;                     ///< mirrors, insecure registries, CA files, retries, timeout
  bool push = false;                 ///< ask for push access too
  std::vector<std::string> mount_from;  ///< repositories a push may mount blobs from (read access asked too)
};

/// The request to send for one attempt; called again before every retry, so
/// a download can ask for the bytes it still lacks (Range).
using MakeRequest = std::function<HttpRequest()>;

class Client {
 public:
  /// For REF's repository. Nothing is sent until the first request.
  Client(const image::Reference& ref, ClientOptions options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  /// A session with this registry's TLS settings, for one thread.
  std::unique_ptr<HttpSession> session() const;

  /// Sends the request MAKE builds to the current endpoint. A URL not
  /// starting with "http" is relative to https://HOST/v2/REPO/ ("manifests/
  /// latest", "blobs/sha256:…"). Adds auth, answers challenges, retries.
  /// Returns the final response (any status but 401 after a fresh token);
  /// throws TransportError when retries run out.
  HttpResponse send(HttpSession& s, const MakeRequest& make);
  /// The same, with at most MAX_RETRIES retries.
  HttpResponse send(HttpSession& s, const MakeRequest& make, int max_retries);

  /// Like send(), and throws a one-line Error for any status outside
  /// 2xx: "WHAT: not found (404: MANIFEST_UNKNOWN: …)", "WHAT: authentication
  /// required…" (no "WHAT: " when WHAT is empty).
  HttpResponse send_ok(HttpSession& s, const MakeRequest& make, const std::string& what);

  /// GETs a manifest by tag or digest. For pulls with mirrors configured,
  /// tries each mirror then the registry, and stays with the one that
  /// answered for every later request. Verifies a digest reference.
  HttpResponse get_manifest(HttpSession& s, const std::string& tag_or_digest);

  /// "registry.example.org:5000/team/app", for messages.
  std::string repository() const;
  int retries() const;

 private:
  struct State;
  std::unique_ptr<State> st_;
};

/// Checks that CREDS (or none) are accepted by REGISTRY (`ferry login`):
/// GET /v2/ and the token flow. Throws a one-line Error otherwise.
void check_login(const std::string& registry, const ClientOptions& options);

}  // namespace ferry::registry
