// `ferry pull REF`, `ferry login REGISTRY`, `ferry logout REGISTRY`.
#include <termios.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <fmt/format.h>
#include <iostream>
#include <memory>

#include "command.hpp"
#include "ferry/core/config.hpp"
#include "ferry/core/error.hpp"
#include "ferry/registry/client.hpp"
#include "ferry/registry/pull.hpp"
#include "registry_options.hpp"

namespace ferry::cli {

void add_registry_options(CLI::App& sub, RegistryOptions& o) {
  sub.add_option("--creds", o.creds, "Credentials for the registry, USER:PASS (else ferry login, Docker's config)");
  sub.add_option("--tls-verify", o.tls_verify,
                 "false: allow plain http and unverified certificates for this command")
      ->check(CLI::IsMember({"true", "false"}));
}

registry::ClientOptions client_options(const RegistryOptions& o) {
  registry::ClientOptions c;
  if (!o.creds.empty()) c.creds = registry::parse_creds(o.creds);
  if (!o.tls_verify.empty()) c.tls_verify = o.tls_verify == "true";
  c.config = load_config();
  return c;
}

std::string pull_into_store(const std::string& name, const RegistryOptions& o, const std::string& platform,
                            bool quiet) {
  image::Reference ref = image::parse_reference(name);
  registry::PullOptions p;
  p.client = client_options(o);
  if (!platform.empty()) p.platform = image::parse_platform(platform);
  p.convert.zstd_level = p.client.config.zstd_level_or_default();
  if (quiet) p.progress = registry::PullOptions::Progress::kQuiet;
  image::Store store(image::Store::user_root());
  auto r = registry::pull_image(ref, store, p);
  return r.image.id;
}

namespace {

struct PullOptions {
  std::string ref, platform;
  RegistryOptions reg;
  bool quiet = false;
};

// "https://host:5000/v2/" or "host:5000" -> "host:5000"; Docker Hub's
// spellings -> "docker.io".
std::string registry_domain(std::string s) {
  if (auto p = s.find("://"); p != std::string::npos) s = s.substr(p + 3);
  s = s.substr(0, s.find('/'));
  if (s == "index.docker.io" || s == "registry-1.docker.io") s = "docker.io";
  if (s.empty()) throw Error("no registry given");
  return s;
}

std::string prompt(const char* what, bool echo) {
  if (::isatty(0) != 1) throw Error(fmt::format("no {} given (use --username, --password-stdin)", what));
  std::fprintf(stderr, "%s: ", what);
  std::fflush(stderr);
  termios old {};
  bool restore = !echo && ::tcgetattr(0, &old) == 0;
  if (restore) {
    termios quiet = old;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    ::tcsetattr(0, TCSAFLUSH, &quiet);
  }
  std::string line;
  std::getline(std::cin, line);
  if (restore) {
    ::tcsetattr(0, TCSAFLUSH, &old);
    std::fputc('\n', stderr);
  }
  return line;
}

struct LoginOptions {
  std::string registry, user, password;
  bool password_stdin = false;
  RegistryOptions reg;
};

int run_login(LoginOptions& o) {
  std::string domain = registry_domain(o.registry);
  try {
    if (o.password_stdin) {
      std::getline(std::cin, o.password);
      if (!o.password.empty() && o.password.back() == '\r') o.password.pop_back();
    }
    if (o.user.empty()) o.user = prompt("Username", true);
    if (o.password.empty()) o.password = prompt("Password", false);
    registry::Credentials creds{o.user, o.password};
    registry::ClientOptions c = client_options(o.reg);
    c.creds = creds;
    registry::check_login(domain, c);
    registry::save_credentials(domain, creds);
    std::printf("Login Succeeded\n");
    return 0;
  } catch (Error& e) {
    throw e.context("login " + domain);
  }
}

}  // namespace

Handler setup_pull(CLI::App& sub) {
  auto o = std::make_shared<PullOptions>();
  sub.add_option("REF", o->ref, "[docker://][REGISTRY/]NAME[:TAG|@DIGEST]")->required();
  sub.add_option("--platform", o->platform, "OS/ARCH[/VARIANT] to pull from a multi-platform image");
  sub.add_flag("-q,--quiet", o->quiet, "No progress output");
  add_registry_options(sub, o->reg);
  return [o] {
    try {
      std::printf("%s\n", pull_into_store(o->ref, o->reg, o->platform, o->quiet).c_str());
      return 0;
    } catch (Error& e) {
      throw e.context("pull " + o->ref);
    }
  };
}

Handler setup_login(CLI::App& sub) {
  auto o = std::make_shared<LoginOptions>();
  sub.add_option("REGISTRY", o->registry, "Registry to log in to (host[:port])")->required();
  sub.add_option("-u,--username", o->user, "User name (asked for when not given)");
  sub.add_option("-p,--password", o->password, "Password (visible to other users: prefer --password-stdin)");
  sub.add_flag("--password-stdin", o->password_stdin, "Read the password from standard input");
  add_registry_options(sub, o->reg);
  return [o] { return run_login(*o); };
}

Handler setup_logout(CLI::App& sub) {
  auto registry = std::make_shared<std::string>();
  sub.add_option("REGISTRY", *registry, "Registry to forget the credentials of")->required();
  return [registry] {
    std::string domain = registry_domain(*registry);
    if (!registry::remove_credentials(domain))
      throw Error(fmt::format("logout {}: not logged in (no credentials in {})", domain, registry::auth_file()));
    std::printf("Removed login credentials for %s\n", domain.c_str());
    return 0;
  };
}

}  // namespace ferry::cli
