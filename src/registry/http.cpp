// libcurl, used plainly: one easy handle per session, reused so its
// connections stay alive; callbacks for headers, the body and uploads.
#include "ferry/registry/http.hpp"

#include <curl/curl.h>
#include <dlfcn.h>
#include <nettle/base64.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <exception>
#include <fmt/format.h>
#include <mutex>

namespace ferry::registry {
namespace {

// libcurl is opened on first use, not linked: its dependencies (OpenSSL,
// nghttp2, libssh2, GSSAPI, LDAP…, 25 libraries) would otherwise be loaded
// and relocated at every `ferry run`, several times ferry's own start-up
// cost (docs/dependencies.md). Only these functions are used.
struct CurlApi {
  CURLcode (*global_init)(long);
  CURL* (*easy_init)();
  CURLcode (*easy_setopt)(CURL*, CURLoption, ...);
  CURLcode (*easy_perform)(CURL*);
  CURLcode (*easy_getinfo)(CURL*, CURLINFO, ...);
  void (*easy_reset)(CURL*);
  void (*easy_cleanup)(CURL*);
  const char* (*easy_strerror)(CURLcode);
  curl_slist* (*slist_append)(curl_slist*, const char*);
  void (*slist_free_all)(curl_slist*);
};

template <typename F>
void load(void* lib, F& fn, const char* name) {
  fn = reinterpret_cast<F>(::dlsym(lib, name));
  if (fn == nullptr) throw Error(fmt::format("libcurl.so.4: no symbol {}", name));
}

const CurlApi& curl() {
  static CurlApi api = [] {
    void* lib = ::dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
    if (lib == nullptr)
      throw Error(fmt::format("cannot load libcurl ({}); install Debian's libcurl4", ::dlerror()));
    CurlApi a{};
    load(lib, a.global_init, "curl_global_init");
    load(lib, a.easy_init, "curl_easy_init");
    load(lib, a.easy_setopt, "curl_easy_setopt");
    load(lib, a.easy_perform, "curl_easy_perform");
    load(lib, a.easy_getinfo, "curl_easy_getinfo");
    load(lib, a.easy_reset, "curl_easy_reset");
    load(lib, a.easy_cleanup, "curl_easy_cleanup");
    load(lib, a.easy_strerror, "curl_easy_strerror");
    load(lib, a.slist_append, "curl_slist_append");
    load(lib, a.slist_free_all, "curl_slist_free_all");
    a.global_init(CURL_GLOBAL_DEFAULT);
    return a;
  }();
  return api;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

std::string trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return std::string(s);
}

// The URL without its query (which may carry signed storage tokens).
std::string without_query(const std::string& url) { return url.substr(0, url.find('?')); }

struct Call {
  const HttpRequest* req;
  HttpResponse* resp;
  CURL* curl;
  std::exception_ptr error;  // thrown by on_body or a short upload file
  uint64_t sent = 0;         // upload bytes given to curl
};

constexpr size_t kMaxBody = 8u << 20;  // a response held in memory

size_t on_header(char* data, size_t, size_t n, void* user) {
  auto* call = static_cast<Call*>(user);
  std::string_view line(data, n);
  if (line.starts_with("HTTP/")) {
    call->resp->headers.clear();  // a new response (after a redirect or a 100 Continue)
    return n;
  }
  auto colon = line.find(':');
  if (colon != std::string_view::npos)
    call->resp->headers[lower(std::string(line.substr(0, colon)))] = trim(line.substr(colon + 1));
  return n;
}

size_t on_write(char* data, size_t, size_t n, void* user) {
  auto* call = static_cast<Call*>(user);
  long status = 0;
  curl().easy_getinfo(call->curl, CURLINFO_RESPONSE_CODE, &status);
  if (call->req->on_body && status >= 200 && status < 300) {
    try {
      call->req->on_body(status, data, n);
    } catch (...) {
      call->error = std::current_exception();
      return 0;  // curl stops with CURLE_WRITE_ERROR
    }
  } else {
    // Manifests, configs, tokens, errors: held whole, so bounded; a
    // registry that sends more (or without end) ends the request.
    if (call->resp->body.size() + n > kMaxBody) {
      call->error = std::make_exception_ptr(
          Error(fmt::format("{} {}: the registry's answer is larger than {} MiB: refused", call->req->method,
                            without_query(call->req->url), kMaxBody >> 20)));
      return 0;
    }
    call->resp->body.append(data, n);
  }
  return n;
}

size_t on_read(char* buf, size_t, size_t n, void* user) {
  auto* call = static_cast<Call*>(user);
  const HttpRequest& r = *call->req;
  uint64_t left = r.body_length - call->sent;
  size_t want = static_cast<size_t>(std::min<uint64_t>(n, left));
  if (want == 0) return 0;
  ssize_t got;
  do got = ::pread(r.body_fd, buf, want, static_cast<off_t>(r.body_offset + call->sent));
  while (got < 0 && errno == EINTR);
  if (got <= 0) {
    call->error = std::make_exception_ptr(Error(got < 0 ? errno : EIO, "read", "upload body"));
    return CURL_READFUNC_ABORT;
  }
  call->sent += static_cast<uint64_t>(got);
  return static_cast<size_t>(got);
}

bool is_tls_error(CURLcode c) {
  return c == CURLE_SSL_CONNECT_ERROR || c == CURLE_PEER_FAILED_VERIFICATION || c == CURLE_SSL_CERTPROBLEM ||
         c == CURLE_SSL_CIPHER || c == CURLE_SSL_CACERT_BADFILE || c == CURLE_SSL_ISSUER_ERROR;
}

}  // namespace

std::string HttpResponse::header(const std::string& name) const {
  auto it = headers.find(name);
  return it == headers.end() ? std::string() : it->second;
}

struct HttpSession::Impl {
  CURL* curl = nullptr;
  char errbuf[CURL_ERROR_SIZE] = {};
};

HttpSession::HttpSession(TransferOptions options) : options_(std::move(options)), impl_(std::make_unique<Impl>()) {
  impl_->curl = curl().easy_init();
  if (impl_->curl == nullptr) throw Error("libcurl: cannot create a handle");
}

HttpSession::~HttpSession() { curl().easy_cleanup(impl_->curl); }

HttpResponse HttpSession::perform(const HttpRequest& req) {
  CURL* c = impl_->curl;
  curl().easy_reset(c);  // keeps the connection cache, drops the last request's options
  HttpResponse resp;
  Call call{&req, &resp, c, nullptr, 0};
  impl_->errbuf[0] = '\0';
  curl().easy_setopt(c, CURLOPT_URL, req.url.c_str());
  curl().easy_setopt(c, CURLOPT_ERRORBUFFER, impl_->errbuf);
  curl().easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl().easy_setopt(c, CURLOPT_USERAGENT, "ferry/" FERRY_VERSION);
  // A verified https request is never redirected to plain http. A libcurl
  // before 7.85 knows neither option, and would follow a redirect to any
  // protocol it has: refused.
  if (curl().easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK ||
      curl().easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, options_.tls_verify ? "https" : "http,https") != CURLE_OK)
    throw Error("this libcurl cannot limit protocols (7.85 or later is needed)");
  curl().easy_setopt(c, CURLOPT_FOLLOWLOCATION, req.follow_redirects ? 1L : 0L);
  curl().easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
  // Authorization is never sent on to another host after a redirect
  // (CURLOPT_UNRESTRICTED_AUTH stays off).
  curl().easy_setopt(c, CURLOPT_CONNECTTIMEOUT, options_.timeout_s);
  curl().easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl().easy_setopt(c, CURLOPT_LOW_SPEED_TIME, options_.timeout_s);
  // A document (not a blob, not an upload) that trickles in without end
  // stays under the low-speed limit: it gets a deadline of its own.
  if (!req.on_body && req.body_fd < 0)
    curl().easy_setopt(c, CURLOPT_TIMEOUT, std::max(60L, 4 * options_.timeout_s));
  curl().easy_setopt(c, CURLOPT_SSL_VERIFYPEER, options_.tls_verify ? 1L : 0L);
  curl().easy_setopt(c, CURLOPT_SSL_VERIFYHOST, options_.tls_verify ? 2L : 0L);
  if (!options_.ca_file.empty()) curl().easy_setopt(c, CURLOPT_CAINFO, options_.ca_file.c_str());
  curl().easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl().easy_setopt(c, CURLOPT_HEADERDATA, &call);
  curl().easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
  curl().easy_setopt(c, CURLOPT_WRITEDATA, &call);

  struct curl_slist* headers = nullptr;
  for (const auto& h : req.headers) headers = curl().slist_append(headers, h.c_str());
  if (req.method == "HEAD") {
    curl().easy_setopt(c, CURLOPT_NOBODY, 1L);
  } else if (req.method == "GET") {
    curl().easy_setopt(c, CURLOPT_HTTPGET, 1L);
  } else {
    curl().easy_setopt(c, CURLOPT_CUSTOMREQUEST, req.method.c_str());
    if (req.body_fd >= 0) {
      curl().easy_setopt(c, CURLOPT_UPLOAD, 1L);
      curl().easy_setopt(c, CURLOPT_READFUNCTION, on_read);
      curl().easy_setopt(c, CURLOPT_READDATA, &call);
      curl().easy_setopt(c, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(req.body_length));
      headers = curl().slist_append(headers, "Expect:");  // no 100-continue round trip
    } else {
      curl().easy_setopt(c, CURLOPT_POST, 1L);
      curl().easy_setopt(c, CURLOPT_POSTFIELDS, req.body.data());
      curl().easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
      curl().easy_setopt(c, CURLOPT_CUSTOMREQUEST, req.method.c_str());
    }
  }
  curl().easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  CURLcode rc = curl().easy_perform(c);
  curl().slist_free_all(headers);
  curl().easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp.status);
  char* url = nullptr;
  curl().easy_getinfo(c, CURLINFO_EFFECTIVE_URL, &url);
  resp.url = url ? url : req.url;
  if (call.error) std::rethrow_exception(call.error);
  if (rc != CURLE_OK) {
    const char* why = impl_->errbuf[0] ? impl_->errbuf : curl().easy_strerror(rc);
    if (rc == CURLE_OPERATION_TIMEDOUT)
      why = "timed out";  // curl's text names byte counts; keep the line short
    bool tls = is_tls_error(rc);
    throw TransportError(fmt::format("{} {}: {}", req.method, without_query(resp.url), why), tls,
                         tls || rc == CURLE_COULDNT_RESOLVE_HOST);
  }
  return resp;
}

std::string url_escape(std::string_view s) {
  std::string out;
  for (unsigned char ch : s) {
    if (std::isalnum(ch) || ch == '-' || ch == '_' || ch == '.' || ch == '~')
      out += static_cast<char>(ch);
    else
      out += fmt::format("%{:02X}", ch);
  }
  return out;
}

std::string base64_encode(std::string_view s) {
  std::string out(BASE64_ENCODE_RAW_LENGTH(s.size()), '\0');
  base64_encode_raw(out.data(), s.size(), reinterpret_cast<const uint8_t*>(s.data()));
  return out;
}

}  // namespace ferry::registry
