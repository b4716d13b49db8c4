// The registry client (client.hpp): endpoints, auth and retries around
// HttpSession. Every request goes through send(); nothing else talks to
// the network, so the rules live in one place:
//   - a URL is https unless the registry is listed insecure or --tls-verify
//     =false was given, and then http is used only after https failed its
//     handshake;
//   - the first request goes anonymous; a 401's challenge says how to
//     authenticate (Basic: the credentials; Bearer: a token for this
//     repository's scope from the realm, cached until it expires);
//   - credentials and tokens only ever go into Authorization headers, to
//     the registry's own origin and its token realm (curl drops them on
//     redirects elsewhere; only the registry's own 401 is answered), and
//     are never logged.
#include "ferry/registry/client.hpp"

#include <chrono>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <mutex>
#include <thread>

#include "ferry/core/log.hpp"
#include "ferry/core/sha256.hpp"
#include "ferry/registry/auth.hpp"

namespace ferry::registry {

namespace {

constexpr const char* kManifestAccept =
    "Accept: application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, "
    "application/vnd.docker.distribution.manifest.list.v2+json, "
    "application/vnd.docker.distribution.manifest.v2+json";

using Clock = std::chrono::steady_clock;

struct Endpoint {
  std::string domain;  // as configured and in credentials: "docker.io", "mirror:5000"
  std::string host;    // where to connect: "registry-1.docker.io"
  std::string scheme = "https";
  bool insecure = false;  // http and unverified TLS allowed
  std::string ca_file;
  std::optional<Credentials> creds;
  std::optional<Challenge> challenge;
  std::optional<Token> token;  // for this client's scopes
};

std::string connect_host(const std::string& domain) {
  return domain == "docker.io" ? "registry-1.docker.io" : domain;
}

std::chrono::milliseconds backoff(int attempt) {
  return std::chrono::milliseconds(std::min(250 << std::min(attempt, 6), 8000));
}

// "scheme://host[:port]" of URL, the scheme's default port dropped ("" when
// it has no scheme).
std::string origin_of(const std::string& url) {
  auto start = url.find("://");
  if (start == std::string::npos) return "";
  std::string o = url.substr(0, url.find('/', start + 3));
  std::string_view port = o.starts_with("https://") ? ":443" : o.starts_with("http://") ? ":80" : "";
  if (!port.empty() && o.ends_with(port)) o.resize(o.size() - port.size());
  return o;
}

}  // namespace

struct Client::State {
  image::Reference ref;
  ClientOptions opt;
  std::vector<Endpoint> endpoints;  // mirrors, then the registry itself
  size_t current = 0;
  std::mutex mu;  // guards endpoints' scheme, challenge and tokens, and current

  // What a token must allow: this repository, and for a push the
  // repositories blobs may be mounted from (as Docker asks).
  std::vector<std::string> scopes() const {
    std::vector<std::string> out;
    if (ref.path.empty()) return out;
    out.push_back("repository:" + ref.path + (opt.push ? ":pull,push" : ":pull"));
    for (const auto& from : opt.mount_from) out.push_back("repository:" + from + ":pull");
    return out;
  }
  std::string origin(const Endpoint& ep) const { return ep.scheme + "://" + ep.host; }
  std::string base(const Endpoint& ep) const {
    return origin(ep) + "/v2/" + (ref.path.empty() ? "" : ref.path + "/");
  }
  TransferOptions transfer(const Endpoint& ep) const {
    return TransferOptions{!ep.insecure, ep.ca_file, opt.config.pull_timeout_or_default()};
  }

  Endpoint make_endpoint(const std::string& domain, bool origin_registry) const {
    Endpoint ep;
    ep.domain = domain;
    ep.host = connect_host(domain);
    const RegistryConfig* rc = opt.config.registry(domain);
    ep.insecure = (rc && rc->insecure.value_or(false)) || (opt.tls_verify && !*opt.tls_verify);
    if (rc && rc->ca_file) ep.ca_file = *rc->ca_file;
    ep.creds = find_credentials(domain, origin_registry ? opt.creds : std::nullopt, origin_registry);
    return ep;
  }

  // Asks the realm for a token for this repository (under mu).
  Token fetch_token(HttpSession& s, Endpoint& ep) {
    const Challenge& c = *ep.challenge;
    std::string realm = c.param("realm");
    if (!realm.starts_with("https://") && !realm.starts_with("http://"))
      throw Error(fmt::format("{}: the registry's token realm '{}' is not an http(s) URL", ep.domain, realm));
    if (realm.starts_with("http://") && !ep.insecure)
      throw Error(fmt::format("{}: the registry's token realm is plain http; refusing to send credentials "
                              "(list the registry as insecure to allow it)", ep.domain));
    std::string url = realm + (realm.find('?') == std::string::npos ? "?" : "&");
    url += "service=" + url_escape(c.param("service"));
    for (const auto& scope : scopes()) url += "&scope=" + url_escape(scope);
    HttpRequest req;
    req.url = url;
    if (ep.creds) req.headers.push_back("Authorization: Basic " + base64_encode(ep.creds->user + ":" + ep.creds->password));
    s.set_options(transfer(ep));
    HttpResponse r;
    for (int attempt = 0;; ++attempt) {
      try {
        r = s.perform(req);
        if (r.status < 500 || attempt >= opt.config.pull_retries_or_default()) break;
      } catch (const TransportError&) {
        if (attempt >= opt.config.pull_retries_or_default()) throw;
      }
      std::this_thread::sleep_for(backoff(attempt));
    }
    if (r.status == 401 || r.status == 403)
      throw Error(fmt::format("{}: {} (the token service answered {})", ep.domain,
                              ep.creds ? "login refused: wrong user name or password" : "authentication required",
                              r.status));
    if (r.status != 200) throw Error(fmt::format("{}: the token service answered {}", ep.domain, r.status));
    log::debug(fmt::format("{}: new token for {}", ep.domain,
                           scopes().empty() ? "(no scope)" : fmt::format("{}", fmt::join(scopes(), " "))));
    return parse_token(r.body, ep.domain);
  }

  // The Authorization header for a request to EP, or "".
  std::string authorization(HttpSession& s, Endpoint& ep) {
    std::lock_guard lock(mu);
    if (!ep.challenge) return "";
    if (ep.challenge->scheme == "basic")
      return ep.creds ? "Authorization: Basic " + base64_encode(ep.creds->user + ":" + ep.creds->password) : "";
    if (!ep.token || ep.token->stale(Clock::now())) ep.token = fetch_token(s, ep);
    return "Authorization: Bearer " + ep.token->value;
  }

  // After a 401: takes its challenge. False when there is nothing new to try.
  bool answer_challenge(Endpoint& ep, const HttpResponse& r) {
    auto c = parse_challenge(r.header("www-authenticate"));
    if (!c) return false;
    std::lock_guard lock(mu);
    ep.token.reset();
    bool was_basic = ep.challenge && ep.challenge->scheme == "basic";
    ep.challenge = c;
    if (c->scheme == "basic") return ep.creds && !was_basic;
    return true;
  }
};

Client::Client(const image::Reference& ref, ClientOptions options) : st_(std::make_unique<State>()) {
  st_->ref = ref;
  st_->opt = std::move(options);
  if (!st_->opt.push)
    if (const RegistryConfig* rc = st_->opt.config.registry(ref.domain))
      for (const auto& m : rc->mirrors) st_->endpoints.push_back(st_->make_endpoint(m, false));
  st_->endpoints.push_back(st_->make_endpoint(ref.domain, true));
}

Client::~Client() = default;

std::unique_ptr<HttpSession> Client::session() const {
  std::lock_guard lock(st_->mu);
  return std::make_unique<HttpSession>(st_->transfer(st_->endpoints[st_->current]));
}

std::string Client::repository() const { return st_->ref.repository(); }

int Client::retries() const { return st_->opt.config.pull_retries_or_default(); }

HttpResponse Client::send(HttpSession& s, const MakeRequest& make) { return send(s, make, retries()); }

HttpResponse Client::send(HttpSession& s, const MakeRequest& make, int max_retries) {
  int attempt = 0;
  bool answered = false;
  for (;;) {
    Endpoint* ep;
    std::string origin, base;
    {
      std::lock_guard lock(st_->mu);
      ep = &st_->endpoints[st_->current];
      origin = st_->origin(*ep);
      base = st_->base(*ep);
    }
    HttpRequest req = make();
    if (req.url.starts_with("/"))
      req.url = origin + req.url;
    else if (!req.url.starts_with("http://") && !req.url.starts_with("https://"))
      req.url = base + req.url;
    // The registry's own origin (scheme, host and port) gets its
    // credentials; a location elsewhere (storage, a CDN) none, and an
    // http:// one from a verified https registry is refused: the blob and
    // the token would cross the network in the clear.
    // (Only an insecure endpoint is ever served over http: `insecure` is
    // fixed when it is made, its scheme falls back to http only when set.)
    if (!ep->insecure && req.url.starts_with("http://"))
      throw Error(fmt::format("{}: the registry sent a plain http location ({}); refusing", ep->domain,
                              origin_of(req.url)));
    const std::string own = origin_of(origin);
    if (origin_of(req.url) == own)
      if (std::string auth = st_->authorization(s, *ep); !auth.empty()) req.headers.push_back(std::move(auth));
    s.set_options(st_->transfer(*ep));
    HttpResponse r;
    try {
      r = s.perform(req);
    } catch (const TransportError& e) {
      {
        std::lock_guard lock(st_->mu);
        if (e.tls() && ep->insecure && ep->scheme == "https") {
          log::debug(fmt::format("{}: no TLS there; using plain http (insecure registry)", ep->domain));
          ep->scheme = "http";
          continue;
        }
      }
      // A certificate failure or an unknown host does not mend by trying again.
      if (e.lasting() || attempt >= max_retries) throw;
      log::debug(fmt::format("{} (retrying)", e.what()));
      std::this_thread::sleep_for(backoff(attempt++));
      continue;
    }
    // Only the registry's own challenge is answered: one from where a
    // redirect led (storage, a CDN: anyone) could name a realm that would
    // be sent the user's password.
    if (r.status == 401 && !answered && origin_of(r.url) == own) {
      answered = true;
      if (st_->answer_challenge(*ep, r)) continue;
      return r;
    }
    if ((r.status == 429 || r.status >= 500) && attempt < max_retries) {
      auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(
          r.status == 429 ? parse_retry_after(r.header("retry-after"), std::chrono::seconds(60))
                                .value_or(std::chrono::duration_cast<std::chrono::seconds>(backoff(attempt)))
                          : backoff(attempt));
      log::debug(fmt::format("{} {}: {} (retrying in {} ms)", req.method, req.url.substr(0, req.url.find('?')),
                             r.status, wait.count()));
      ++attempt;
      std::this_thread::sleep_for(wait);
      continue;
    }
    return r;
  }
}

HttpResponse Client::send_ok(HttpSession& s, const MakeRequest& make, const std::string& what) {
  HttpResponse r = send(s, make);
  if (r.status >= 200 && r.status < 300) return r;
  std::string text = registry_error_text(r.body);
  std::string at = what.empty() ? "" : what + ": ";
  std::string reg = st_->ref.domain, own;
  bool creds;
  {
    std::lock_guard lock(st_->mu);
    const Endpoint& ep = st_->endpoints[st_->current];
    creds = ep.creds.has_value();
    own = origin_of(st_->origin(ep));
  }
  // A 401 from where a redirect led (not answered: see send) is that
  // host's refusal, not the registry's.
  if (r.status == 401 && origin_of(r.url) != own)
    throw Error(fmt::format("{}{}, where the registry redirected, refused access (401)", at, origin_of(r.url)));
  if (r.status == 401)
    throw Error(creds ? fmt::format("{}access denied with the credentials given for {}", at, reg)
                      : fmt::format("{}authentication required (ferry login {}, or --creds USER:PASS)", at, reg));
  if (r.status == 403) throw Error(fmt::format("{}access denied (403{})", at, text.empty() ? "" : ": " + text));
  if (r.status == 404) throw Error(fmt::format("{}not found (404{})", at, text.empty() ? "" : ": " + text));
  if (r.status == 429) throw Error(fmt::format("{}too many requests (429), still after {} retries", at, retries()));
  throw Error(fmt::format("{}HTTP {}{}", at, r.status, text.empty() ? "" : " " + text));
}

HttpResponse Client::get_manifest(HttpSession& s, const std::string& tag_or_digest) {
  std::string what = "manifest " + tag_or_digest;
  auto make = [&] {
    HttpRequest r;
    r.url = "manifests/" + tag_or_digest;
    r.headers.push_back(kManifestAccept);
    return r;
  };
  for (;;) {
    bool last;
    std::string domain;
    {
      std::lock_guard lock(st_->mu);
      last = st_->current + 1 == st_->endpoints.size();
      domain = st_->endpoints[st_->current].domain;
    }
    try {
      // A mirror gets one try: the registry behind it is the fallback.
      HttpResponse r = last ? send_ok(s, make, what) : send(s, make, 0);
      if (r.status >= 200 && r.status < 300) {
        if (tag_or_digest.starts_with("sha256:"))
          if (std::string got = sha256_digest(r.body); got != tag_or_digest)
            throw Error(fmt::format("{}: digest mismatch (got {})", what, got));
        return r;
      }
      log::debug(fmt::format("mirror {}: {} for {}; trying the next", domain, r.status, what));
    } catch (const TransportError& e) {
      if (last) throw;
      log::debug(fmt::format("mirror {}: {}; trying the next", domain, e.what()));
    }
    std::lock_guard lock(st_->mu);
    ++st_->current;
  }
}

void check_login(const std::string& registry, const ClientOptions& options) {
  image::Reference ref{registry, "", std::nullopt, std::nullopt};
  ClientOptions o = options;
  o.push = true;  // no mirrors: the login is for the registry itself
  Client c(ref, o);
  auto s = c.session();
  c.send_ok(*s, [] { return HttpRequest{}; }, "");  // GET /v2/; the caller names the registry
}

}  // namespace ferry::registry
