// `ferry run`, `ferry exec`, `ferry shell`: one set of container options,
// three ways to choose the command.
#include <CLI/CLI.hpp>
#include <memory>
#include <optional>

#include "command.hpp"
#include "ferry/core/config.hpp"
#include "ferry/core/error.hpp"
#include "ferry/image/image.hpp"
#include "ferry/runtime/container.hpp"
#include "ferry/runtime/defaults.hpp"
#include "registry_options.hpp"

namespace ferry::cli {
namespace {

enum class Mode { Run, Exec, Shell };

struct RunOptions {
  std::vector<std::string> volumes;
  std::vector<std::string> env;
  std::vector<std::string> env_files;
  bool clean_env = false;
  std::string workdir;
  bool writable_tmpfs = false;
  std::string shell;
  std::string pull = "missing";
  bool no_share = false;
  RegistryOptions reg;
};

void add_container_options(CLI::App& sub, RunOptions& o) {
  sub.add_option("-v,--volume", o.volumes, "Bind SRC on the host at DST inside: SRC[:DST[:ro|rw]]")
      ->allow_extra_args(false);
  sub.add_option("-e,--env", o.env, "Set NAME=VALUE inside (NAME alone: take the host's value)")
      ->allow_extra_args(false);
  sub.add_option("--env-file", o.env_files, "Read NAME=VALUE lines from FILE")->allow_extra_args(false);
  sub.add_flag("--cleanenv", o.clean_env, "Start from the image's environment only, not the host's");
  sub.add_option("-w,--workdir", o.workdir, "Working directory inside the container");
  sub.add_flag("--writable-tmpfs", o.writable_tmpfs,
               "Allow writes anywhere; they go to a tmpfs and vanish at exit");
  sub.add_flag("--no-share", o.no_share,
               "SquashFS: mount the image privately, not through the node's shared mount holder");
  sub.add_option("--pull", o.pull, "Pull IMAGE from its registry: missing (not in the store), always, never")
      ->check(CLI::IsMember({"missing", "always", "never"}));
  add_registry_options(sub, o.reg);
  // IMAGE [COMMAND [ARG...]]: everything from the first positional on is
  // ours to pass through untouched, options of the command included.
  sub.prefix_command();
}

int run_container(Mode mode, const RunOptions& o, const std::vector<std::string>& rest) {
  if (rest.empty()) throw Error("no image given (usage: ferry run [OPTIONS] IMAGE [COMMAND [ARG...]])");
  // prefix_command() also stops at an unknown option; before IMAGE it is a mistake.
  if (rest[0].size() > 1 && rest[0][0] == '-') throw Error("unknown option " + rest[0] + " (see ferry --help)");
  static const char* const kVerb[] = {"run", "exec", "shell"};
  runtime::RunRequest req;
  try {
    const std::string& name = rest[0];
    // One store lookup on the way to a container: a stored name (or, even
    // with --pull=always, the id of a stored image) is not pulled.
    bool pullable = o.pull != "never" && !name.empty() && !image::is_path_spec(name) && !image::is_digest(name);
    bool hex = name.size() >= 4 && name.find_first_not_of("0123456789abcdef") == std::string::npos;
    std::optional<image::ResolvedImage> found;
    if (pullable && (o.pull == "missing" || hex)) found = image::resolve_name(name);
    if (pullable && !found) pull_into_store(name, o.reg, "", false);
    req.image = found ? std::move(*found) : image::resolve(name);
    req.command.assign(rest.begin() + 1, rest.end());
    if (mode == Mode::Exec && req.command.empty())
      throw Error("no command given (usage: ferry exec [OPTIONS] IMAGE COMMAND [ARG...])");
    if (mode == Mode::Shell) {
      if (!req.command.empty()) throw Error("ferry shell takes no command; use ferry exec");
      req.command = o.shell.empty()
                        ? std::vector<std::string>{"/bin/sh", "-c", "test -x /bin/bash && exec /bin/bash || exec /bin/sh"}
                        : std::vector<std::string>{o.shell};
    }
    req.ignore_entrypoint = mode != Mode::Run;
    for (const auto& v : o.volumes) req.volumes.push_back(runtime::parse_volume(v));
    req.env = o.env;
    req.env_files = o.env_files;
    req.clean_env = o.clean_env;
    if (!o.workdir.empty()) req.workdir = o.workdir;
    req.writable_tmpfs = o.writable_tmpfs;
    if (req.image.format == image::Format::Squashfs) {
      Config config = load_config();
      req.share = !o.no_share && config.mounts_share_or_default();
      req.share_grace = config.mounts_grace_or_default();
    }
    return runtime::run(runtime::build_spec(req));
  } catch (Error& e) {
    throw e.context(std::string(kVerb[static_cast<int>(mode)]) + " " + rest[0]);
  }
}

Handler setup(CLI::App& sub, Mode mode) {
  auto o = std::make_shared<RunOptions>();
  add_container_options(sub, *o);
  if (mode == Mode::Shell) sub.add_option("--shell", o->shell, "Shell to start (default: /bin/bash, else /bin/sh)");
  return [mode, o, &sub] { return run_container(mode, *o, sub.remaining()); };
}

}  // namespace

Handler setup_run(CLI::App& sub) { return setup(sub, Mode::Run); }
Handler setup_exec(CLI::App& sub) { return setup(sub, Mode::Exec); }
Handler setup_shell(CLI::App& sub) { return setup(sub, Mode::Shell); }

}  // namespace ferry::cli
