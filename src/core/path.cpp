#include "ferry/core/path.hpp"

#include <unistd.h>

#include <climits>

namespace ferry {

std::vector<std::string> split_path(std::string_view path) {
  std::vector<std::string> parts;
  size_t i = 0;
  while (i < path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    std::string_view part = path.substr(i, j - i);
    if (!part.empty() && part != ".") parts.emplace_back(part);
    i = j + 1;
  }
  return parts;
}

std::vector<std::string> split_fields(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  if (s.empty()) return out;
  for (;;) {
    size_t end = s.find(sep, start);
    out.push_back(s.substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (end == std::string::npos) return out;
    start = end + 1;
  }
}

std::vector<std::string> absolute_dirs(const std::string& search_path) {
  std::vector<std::string> out;
  for (auto& d : split_fields(search_path, ':'))
    if (!d.empty() && d[0] == '/') out.push_back(std::move(d));
  return out;
}

std::string normalize_path(std::string_view path) {
  std::string out;
  for (const auto& p : split_path(path)) out += "/" + p;
  if (out.empty()) return "/";
  if (!path.empty() && path[0] != '/') out.erase(0, 1);
  return out;
}

std::string absolute_path(std::string_view path) {
  if (!path.empty() && path[0] == '/') return normalize_path(path);
  char cwd[PATH_MAX];
  if (::getcwd(cwd, sizeof cwd) == nullptr) return normalize_path(path);
  return normalize_path(std::string(cwd) + "/" + std::string(path));
}

bool has_dotdot(std::string_view path) {
  for (const auto& p : split_path(path))
    if (p == "..") return true;
  return false;
}

bool path_within(std::string_view path, std::string_view dir) {
  if (dir == "/") return !path.empty() && path[0] == '/';
  if (path.substr(0, dir.size()) != dir) return false;
  return path.size() == dir.size() || path[dir.size()] == '/';
}

size_t path_depth(std::string_view path) { return split_path(path).size(); }

}  // namespace ferry
