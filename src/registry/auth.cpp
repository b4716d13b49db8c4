// Challenge, token and Retry-After parsing (auth.hpp).
#include "ferry/registry/auth.hpp"

#include <algorithm>
#include <cctype>
#include <ctime>
#include <nlohmann/json.hpp>

#include "ferry/core/error.hpp"

namespace ferry::registry {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

void skip_space(std::string_view& s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
}

// A token (RFC 7230 tchar run).
std::string take_token(std::string_view& s) {
  size_t n = 0;
  while (n < s.size() && (std::isalnum(static_cast<unsigned char>(s[n])) ||
                          std::string_view("!#$%&'*+-.^_`|~/").find(s[n]) != std::string_view::npos))
    ++n;
  std::string out(s.substr(0, n));
  s.remove_prefix(n);
  return out;
}

// A quoted string with backslash escapes, or a token.
std::string take_value(std::string_view& s) {
  if (s.empty() || s.front() != '"') return take_token(s);
  std::string out;
  s.remove_prefix(1);
  while (!s.empty() && s.front() != '"') {
    if (s.front() == '\\' && s.size() > 1) s.remove_prefix(1);
    out += s.front();
    s.remove_prefix(1);
  }
  if (!s.empty()) s.remove_prefix(1);
  return out;
}

}  // namespace

std::string Challenge::param(const std::string& name) const {
  auto it = params.find(name);
  return it == params.end() ? std::string() : it->second;
}

std::optional<Challenge> parse_challenge(std::string_view s) {
  std::optional<Challenge> found;
  while (!s.empty()) {
    skip_space(s);
    std::string scheme = lower(take_token(s));
    if (scheme.empty()) {  // stray separator: skip it
      s.remove_prefix(1);
      continue;
    }
    Challenge c{scheme, {}};
    // auth-params: name=value, separated by commas, until the next scheme.
    for (;;) {
      skip_space(s);
      std::string_view save = s;
      std::string name = lower(take_token(s));
      skip_space(s);
      if (name.empty() || s.empty() || s.front() != '=') {
        s = save;
        break;
      }
      s.remove_prefix(1);
      skip_space(s);
      c.params[name] = take_value(s);
      skip_space(s);
      if (!s.empty() && s.front() == ',') s.remove_prefix(1);
    }
    if (!found && (scheme == "bearer" || scheme == "basic")) found = std::move(c);
    skip_space(s);
    if (!s.empty() && s.front() == ',') s.remove_prefix(1);
  }
  return found;
}

Token parse_token(std::string_view body, const std::string& what, std::chrono::steady_clock::time_point now) {
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (!j.is_object()) throw Error(what + ": the token service's answer is not JSON");
  Token t;
  for (const char* key : {"token", "access_token"})
    if (auto it = j.find(key); it != j.end() && it->is_string() && !it->get<std::string>().empty()) {
      t.value = it->get<std::string>();
      break;
    }
  if (t.value.empty()) throw Error(what + ": the token service's answer holds no token");
  long expires = 60;
  if (auto it = j.find("expires_in"); it != j.end() && it->is_number_integer() && it->get<long>() > 0)
    expires = it->get<long>();
  t.lifetime = std::chrono::seconds(expires);
  t.expires = now + t.lifetime;
  return t;
}

std::optional<std::chrono::seconds> parse_retry_after(std::string_view v, std::chrono::seconds cap) {
  while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
  while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
  if (v.empty()) return std::nullopt;
  long secs = 0;
  if (std::all_of(v.begin(), v.end(), [](unsigned char c) { return std::isdigit(c); })) {
    if (v.size() > 9) return cap;
    secs = std::stol(std::string(v));
  } else {  // IMF-fixdate: "Wed, 21 Oct 2015 07:28:00 GMT"
    std::tm tm{};
    std::string text(v);
    if (strptime(text.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm) == nullptr) return std::nullopt;
    secs = static_cast<long>(timegm(&tm) - std::time(nullptr));
    if (secs < 0) secs = 0;
  }
  return std::min(std::chrono::seconds(secs), cap);
}

std::string registry_error_text(std::string_view body) {
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (!j.is_object()) return "";
  auto errs = j.find("errors");
  if (errs == j.end() || !errs->is_array() || errs->empty() || !(*errs)[0].is_object()) return "";
  const auto& e = (*errs)[0];
  auto text = [&e](const char* key) {
    auto it = e.find(key);
    return it != e.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  std::string code = text("code"), message = text("message");
  if (code.empty()) return message;
  return message.empty() ? code : code + ": " + message;
}

}  // namespace ferry::registry
