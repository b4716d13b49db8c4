#include "ferry/runtime/defaults.hpp"

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <fmt/format.h>
#include <map>
#include <sstream>

#include "ferry/core/error.hpp"
#include "ferry/core/fd.hpp"
#include "ferry/core/log.hpp"
#include "ferry/core/path.hpp"

extern char** environ;

namespace ferry::runtime {

std::string env_name(const std::string& entry) { return entry.substr(0, entry.find('=')); }

std::optional<std::string> env_get(const std::vector<std::string>& env, const std::string& name) {
  for (const auto& e : env)
    if (env_name(e) == name && e.size() > name.size()) return e.substr(name.size() + 1);
  return std::nullopt;
}

std::vector<std::string> host_environment() {
  std::vector<std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) env.emplace_back(*e);
  return env;
}

namespace {

constexpr const char* kDefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// Later entries override earlier ones of the same name; first position wins.
void env_set(std::vector<std::string>& env, const std::string& entry) {
  std::string name = env_name(entry);
  for (auto& e : env)
    if (env_name(e) == name) {
      e = entry;
      return;
    }
  env.push_back(entry);
}

// "-e NAME=VALUE" or "-e NAME" (value taken from the host, skipped if unset).
std::optional<std::string> env_assignment(const std::string& spec,
                                          const std::vector<std::string>& host_env,
                                          const std::string& where) {
  std::string name = env_name(spec);
  if (name.empty() || name.find_first_of(" \t") != std::string::npos)
    throw Error(fmt::format("{}: invalid environment variable '{}'", where, spec));
  if (spec.find('=') != std::string::npos) return spec;
  auto value = env_get(host_env, name);
  if (!value) return std::nullopt;
  return name + "=" + *value;
}

// Each edit's directories go first in VAR (its MEMBER: library_path for
// LD_LIBRARY_PATH, path for PATH), a later edit's ahead of an earlier
// one's (GPU driver libraries before MPI's).
void prepend_dirs(std::vector<std::string>& env, const std::vector<ContainerEdits>& edits, const std::string& var,
                  std::vector<std::string> ContainerEdits::*member) {
  for (const auto& ed : edits) {
    const auto& dirs = ed.*member;
    if (dirs.empty()) continue;
    std::string value;
    for (const auto& d : dirs) value += (value.empty() ? "" : ":") + d;
    auto rest = env_get(env, var);
    if (rest && !rest->empty()) value += ":" + *rest;
    env_set(env, var + "=" + value);
  }
}

Mount bind(std::string src, std::string dst, bool ro, bool optional, bool recursive = false) {
  Mount m;
  m.standard = true;
  m.source = std::move(src);
  m.destination = std::move(dst);
  m.read_only = ro;
  m.optional = optional;
  m.recursive = recursive;
  return m;
}

// System directories that are never bound from the host as a working
// directory: the image provides its own (Apptainer keeps a similar list).
bool is_system_dir(const std::string& path) {
  static const char* const kSystem[] = {"/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64",
                                        "/libx32", "/etc", "/boot", "/proc", "/sys", "/dev",
                                        "/run", "/var"};
  if (path == "/") return true;
  return std::any_of(std::begin(kSystem), std::end(kSystem),
                     [&](const char* s) { return path_within(path, s); });
}

Account current_account(uid_t uid, gid_t gid) {
  Account acc;
  struct passwd* pw = ::getpwuid(uid);
  std::string name = pw ? pw->pw_name : fmt::format("user{}", uid);
  std::string home = pw ? pw->pw_dir : "/";
  std::string shell = pw ? pw->pw_shell : "/bin/sh";
  std::string gecos = pw ? pw->pw_gecos : "";
  acc.passwd_line = fmt::format("{}:x:{}:{}:{}:{}:{}", name, uid, gid, gecos, home, shell);
  struct group* gr = ::getgrgid(gid);
  std::string gname = gr ? gr->gr_name : fmt::format("group{}", gid);
  acc.group_lines.push_back(fmt::format("{}:x:{}:{}", gname, gid, name));
  return acc;
}

std::string current_dir() {
  char buf[PATH_MAX];
  if (::getcwd(buf, sizeof buf) == nullptr) return {};
  return buf;
}

// The container always runs as the caller (rootless, no other id mapped);
// an image that asks for another user is told so once.
void warn_other_user(const RunRequest& req, uid_t uid, const std::string& name) {
  const std::string& user = req.image.config.user;
  std::string who = user.substr(0, user.find(':'));
  if (who.empty() || who == std::to_string(uid) || who == name) return;
  log::warn(fmt::format("{}: the image's User '{}' is ignored: the container runs as you ({}, uid {})",
                        req.image.name, user, name, uid));
}

}  // namespace

std::string volume_destination(const std::string& dst, const std::string& what) {
  if (dst.empty() || dst[0] != '/' || has_dotdot(dst))
    throw Error(fmt::format("{}: destination must be an absolute path without '..'", what));
  return normalize_path(dst);
}

Mount parse_volume(const std::string& spec) {
  std::vector<std::string> parts = split_fields(spec, ':');
  if (parts.empty() || parts.size() > 3 || std::any_of(parts.begin(), parts.end(), [](auto& p) { return p.empty(); }))
    throw Error(fmt::format("volume '{}': expected SRC[:DST[:ro|rw]]", spec));
  Mount m;
  m.volume = true;
  m.source = absolute_path(parts[0]);
  m.destination = parts.size() >= 2 ? parts[1] : m.source;
  if (parts.size() == 3) {
    if (parts[2] == "ro") m.read_only = true;
    else if (parts[2] != "rw")
      throw Error(fmt::format("volume '{}': unknown option '{}' (expected ro or rw)", spec, parts[2]));
  }
  m.destination = volume_destination(m.destination, fmt::format("volume '{}'", spec));
  return m;
}

std::vector<std::string> read_env_file(const std::string& path,
                                       const std::vector<std::string>& host_env) {
  std::vector<std::string> out;
  std::stringstream lines(read_file(path));
  int lineno = 0;
  for (std::string line; std::getline(lines, line);) {
    ++lineno;
    auto start = line.find_first_not_of(" \t");
    if (start == std::string::npos || line[start] == '#') continue;
    line = line.substr(start);
    if (line.rfind("export ", 0) == 0) line = line.substr(7);
    auto a = env_assignment(line, host_env, fmt::format("{}:{}", path, lineno));
    if (a) out.push_back(*a);
  }
  return out;
}

std::vector<std::string> compose_env(const std::vector<std::string>& host_env, const RunRequest& req) {
  std::vector<std::string> env;
  if (!req.clean_env) env = host_env;
  for (const auto& e : req.image.config.env) env_set(env, e);
  if (!env_get(env, "PATH")) env_set(env, std::string("PATH=") + kDefaultPath);
  for (const auto& ed : req.edits)
    for (const auto& e : ed.env) env_set(env, e);
  prepend_dirs(env, req.edits, "LD_LIBRARY_PATH", &ContainerEdits::library_path);
  prepend_dirs(env, req.edits, "PATH", &ContainerEdits::path);
  for (const auto& f : req.env_files)
    for (const auto& e : read_env_file(f, host_env)) env_set(env, e);
  for (const auto& e : req.env)
    if (auto a = env_assignment(e, host_env, "--env")) env_set(env, *a);
  return env;
}

std::vector<std::string> compose_args(const RunRequest& req) {
  const auto& cfg = req.image.config;
  std::vector<std::string> args;
  if (!req.ignore_entrypoint && cfg.entrypoint) args = *cfg.entrypoint;
  if (!req.command.empty())
    args.insert(args.end(), req.command.begin(), req.command.end());
  else if (!req.ignore_entrypoint && cfg.cmd)
    args.insert(args.end(), cfg.cmd->begin(), cfg.cmd->end());
  if (args.empty())
    throw Error("no command given and the image has no entrypoint or cmd");
  return args;
}

std::vector<Mount> order_mounts(std::vector<Mount> mounts) {
  // A later mount of the same destination replaces the earlier one (a user
  // volume over a site default), keeping the later one's position.
  std::vector<Mount> unique;
  for (auto it = mounts.rbegin(); it != mounts.rend(); ++it)
    if (std::none_of(unique.begin(), unique.end(), [&](auto& m) { return m.destination == it->destination; }))
      unique.push_back(std::move(*it));
  std::reverse(unique.begin(), unique.end());
  std::stable_sort(unique.begin(), unique.end(), [](const Mount& a, const Mount& b) {
    return path_depth(a.destination) < path_depth(b.destination);
  });
  return unique;
}

ContainerSpec build_spec(const RunRequest& req) {
  ContainerSpec spec;
  auto host_env = host_environment();
  spec.process.uid = ::getuid();
  spec.process.gid = ::getgid();
  spec.process.args = compose_args(req);
  spec.process.env = compose_env(host_env, req);
  spec.root = Root{req.image.path, req.image.format, req.writable_tmpfs, req.share, req.share_grace, req.image.name};
  spec.account = current_account(spec.process.uid, spec.process.gid);
  warn_other_user(req, spec.process.uid, spec.account.passwd_line.substr(0, spec.account.passwd_line.find(':')));

  std::vector<Mount> m;
  m.push_back(bind("/dev", "/dev", false, false, true));
  m.push_back(bind("/proc", "/proc", false, false, true));
  m.push_back(bind("/sys", "/sys", false, true, true));
  m.push_back(bind("/tmp", "/tmp", false, true));
  std::string home = env_get(host_env, "HOME").value_or("");
  home = !home.empty() && home[0] == '/' && home != "/" ? normalize_path(home) : "";
  if (!home.empty()) m.push_back(bind(home, home, false, true));
  for (const char* f : {"/etc/resolv.conf", "/etc/hosts", "/etc/localtime"})
    m.push_back(bind(f, f, true, true));
  std::string cwd = current_dir();
  bool cwd_bound = !cwd.empty() && !is_system_dir(cwd);
  if (cwd_bound && cwd != home) {  // the home's bind (standard) serves it as well
    m.push_back(bind(cwd, cwd, false, true));
    m.back().standard = false;  // each container's own
  }
  for (const auto& ed : req.edits) {
    m.insert(m.end(), ed.mounts.begin(), ed.mounts.end());
    spec.hooks.insert(spec.hooks.end(), ed.hooks.begin(), ed.hooks.end());
    spec.inspectors.insert(spec.inspectors.end(), ed.inspectors.begin(), ed.inspectors.end());
  }
  for (const auto& v : req.volumes) m.push_back(v);
  spec.mounts = order_mounts(std::move(m));

  if (req.workdir) {
    spec.process.cwd_candidates = {normalize_path(absolute_path(*req.workdir))};
    spec.process.cwd_required = true;
  } else {
    if (!cwd.empty()) spec.process.cwd_candidates.push_back(cwd);
    if (!req.image.config.working_dir.empty())
      spec.process.cwd_candidates.push_back(normalize_path(req.image.config.working_dir));
    spec.process.cwd_candidates.push_back("/");
  }
  return spec;
}

}  // namespace ferry::runtime
