/// HTTP for the registry client, on libcurl (Debian libcurl4-openssl-dev).
/// One HttpSession is one curl handle: it keeps its connections alive
/// between requests, and belongs to one thread at a time (each download
/// worker has its own). Nothing here knows about registries or auth; it
/// never logs headers, so credentials cannot leak through --debug.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ferry/core/error.hpp"

namespace ferry::registry {

struct TransferOptions {
  bool tls_verify = true;  ///< verify the peer's certificate (and host name)
  std::string ca_file;     ///< extra CA certificates (PEM), added to the system's
  long timeout_s = 30;     ///< connect timeout, and the longest stall mid-transfer
};

struct HttpRequest {
  std::string method = "GET";
  std::string url;
  std::vector<std::string> headers;  ///< "Name: value"
  /// The body to send (PUT/POST/PATCH), from memory...
  std::string body;
  /// ...or `body_length` bytes of the file `body_fd` from `body_offset`.
  int body_fd = -1;
  uint64_t body_offset = 0;
  uint64_t body_length = 0;
  /// When set, a 2xx response's body streams here in chunks instead of
  /// being kept in HttpResponse::body. Throwing from it aborts the transfer;
  /// perform() rethrows what it threw.
  /// STATUS is 200, or 206 for a Range request the server honoured.
  std::function<void(long status, const char* data, size_t size)> on_body;
  bool follow_redirects = true;  ///< blob GETs are often redirected to storage
};

struct HttpResponse {
  long status = 0;
  std::map<std::string, std::string> headers;  ///< names lowercased; the last value of each
  std::string body;                            ///< unless streamed through on_body
  std::string url;                             ///< where it came from, after redirects

  /// The header NAME (lowercase), or "".
  std::string header(const std::string& name) const;
};

/// A request that got no HTTP answer: refused, reset, timed out, TLS
/// failure, a connection dropped mid-body. Retrying may help.
class TransportError : public Error {
 public:
  TransportError(std::string message, bool tls, bool lasting)
      : Error(std::move(message)), tls_(tls), lasting_(lasting) {}
  /// The TLS handshake failed (e.g. an http-only server asked for https).
  bool tls() const noexcept { return tls_; }
  /// Trying again will not help: a TLS failure, or a host name that does
  /// not resolve (a typo, or an offline compute node).
  bool lasting() const noexcept { return lasting_; }

 private:
  bool tls_, lasting_;
};

class HttpSession {
 public:
  explicit HttpSession(TransferOptions options);
  ~HttpSession();
  HttpSession(const HttpSession&) = delete;
  HttpSession& operator=(const HttpSession&) = delete;

  /// Sends REQUEST and returns the answer, whatever its status. Throws
  /// TransportError when there is none.
  HttpResponse perform(const HttpRequest& request);

  const TransferOptions& options() const { return options_; }
  /// Settings for the following requests (the registry client switches
  /// them when it moves from a mirror to the registry).
  void set_options(TransferOptions options) { options_ = std::move(options); }

 private:
  struct Impl;
  TransferOptions options_;
  std::unique_ptr<Impl> impl_;
};

/// Percent-encodes S for a URL query value.
std::string url_escape(std::string_view s);

/// Base64 (RFC 4648, padded), for HTTP Basic.
std::string base64_encode(std::string_view s);

}  // namespace ferry::registry
