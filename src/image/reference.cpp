#include "ferry/image/reference.hpp"

#include <algorithm>
#include <fmt/format.h>

#include "ferry/core/error.hpp"

namespace ferry::image {
namespace {

constexpr size_t kMaxName = 255;  // distribution/reference NameTotalLengthMax
constexpr std::string_view kDockerHub = "docker.io";

bool lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool alnum(char c) { return lower_alnum(c) || (c >= 'A' && c <= 'Z'); }

// path-component := [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*
bool valid_component(std::string_view c) {
  if (c.empty() || !lower_alnum(c.front()) || !lower_alnum(c.back())) return false;
  for (size_t i = 0; i < c.size();) {
    if (lower_alnum(c[i])) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < c.size() && !lower_alnum(c[j])) ++j;
    std::string_view sep = c.substr(i, j - i);
    bool dashes = std::all_of(sep.begin(), sep.end(), [](char x) { return x == '-'; });
    if (sep != "." && sep != "_" && sep != "__" && !dashes) return false;
    i = j;
  }
  return true;
}

// domain := host [":" port]; host components [a-zA-Z0-9-]+ separated by ".",
// or a bracketed IPv6 address.
bool valid_domain(std::string_view d) {
  if (d.empty()) return false;
  std::string_view host = d;
  if (auto colon = d.rfind(':'); colon != std::string_view::npos && d.find(']', colon) == std::string_view::npos) {
    std::string_view port = d.substr(colon + 1);
    if (port.empty() || !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }))
      return false;
    host = d.substr(0, colon);
  }
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') return true;
  size_t i = 0;
  while (i <= host.size()) {
    size_t j = std::min(host.find('.', i), host.size());
    std::string_view part = host.substr(i, j - i);
    if (part.empty() || !alnum(part.front()) || !alnum(part.back()) ||
        !std::all_of(part.begin(), part.end(), [](char c) { return alnum(c) || c == '-'; }))
      return false;
    i = j + 1;
  }
  return true;
}

// tag := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
bool valid_tag(std::string_view t) {
  if (t.empty() || t.size() > 128 || !(alnum(t[0]) || t[0] == '_')) return false;
  return std::all_of(t.begin(), t.end(), [](char c) { return alnum(c) || c == '_' || c == '.' || c == '-'; });
}

[[noreturn]] void bad(std::string_view ref, std::string_view why) {
  throw Error(fmt::format("invalid reference '{}': {}", ref, why));
}

}  // namespace

bool is_digest(std::string_view s) {
  if (s.size() != 71 || s.substr(0, 7) != "sha256:") return false;
  return std::all_of(s.begin() + 7, s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

Reference parse_reference(std::string_view input) {
  std::string_view ref = input;
  if (ref.substr(0, 9) == "docker://") ref.remove_prefix(9);
  if (ref.empty()) bad(input, "empty");
  Reference r;
  std::string_view rest = ref;
  if (auto at = rest.find('@'); at != std::string_view::npos) {
    r.digest = std::string(rest.substr(at + 1));
    if (!is_digest(*r.digest)) bad(input, "digest must be sha256: followed by 64 lowercase hex digits");
    rest = rest.substr(0, at);
  }
  // A tag is after the last ':' that follows the last '/' (a port is before it).
  auto slash = rest.rfind('/');
  auto colon = rest.rfind(':');
  if (colon != std::string_view::npos && (slash == std::string_view::npos || colon > slash)) {
    r.tag = std::string(rest.substr(colon + 1));
    if (!valid_tag(*r.tag)) bad(input, "invalid tag");
    rest = rest.substr(0, colon);
  }
  if (rest.size() > kMaxName) bad(input, "name longer than 255 characters");
  // The first component is a registry when it looks like a host (Docker's rule).
  auto first = rest.find('/');
  std::string_view head = rest.substr(0, first);
  bool has_domain = first != std::string_view::npos &&
                    (head.find_first_of(".:") != std::string_view::npos || head == "localhost" ||
                     std::any_of(head.begin(), head.end(), [](char c) { return c >= 'A' && c <= 'Z'; }));
  r.domain = has_domain ? std::string(head) : std::string(kDockerHub);
  std::string_view path = has_domain ? rest.substr(first + 1) : rest;
  if (has_domain && !valid_domain(r.domain)) bad(input, "invalid registry name");
  if (r.domain == "index.docker.io") r.domain = kDockerHub;
  if (path.empty()) bad(input, "no repository name");
  for (size_t i = 0; i <= path.size();) {
    size_t j = std::min(path.find('/', i), path.size());
    std::string_view comp = path.substr(i, j - i);
    if (std::any_of(comp.begin(), comp.end(), [](char c) { return c >= 'A' && c <= 'Z'; }))
      bad(input, "repository name must be lowercase");
    if (!valid_component(comp)) bad(input, fmt::format("invalid repository name component '{}'", comp));
    i = j + 1;
  }
  r.path = std::string(path);
  if (r.domain == kDockerHub && r.path.find('/') == std::string::npos) r.path = "library/" + r.path;
  if (!r.tag && !r.digest) r.tag = "latest";
  return r;
}

std::string Reference::str() const {
  std::string s = repository();
  if (tag) s += ":" + *tag;
  if (digest) s += "@" + *digest;
  return s;
}

std::string Reference::familiar() const {
  std::string s = repository();
  if (domain == kDockerHub) s = path.rfind("library/", 0) == 0 ? path.substr(8) : path;
  if (tag) s += ":" + *tag;
  if (digest) s += "@" + *digest;
  return s;
}

}  // namespace ferry::image
