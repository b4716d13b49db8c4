// `ferry run`, `ferry exec`, `ferry shell`: one set of container options,
// three ways to choose the command.
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <memory>
#include <optional>

#include "command.hpp"
#include "ferry/core/config.hpp"
#include "ferry/core/error.hpp"
#include "ferry/hpc/cache.hpp"
#include "ferry/hpc/gpu.hpp"
#include "ferry/hpc/mpi.hpp"
#include "ferry/hpc/slurm_relay.hpp"
#include "ferry/image/image.hpp"
#include "ferry/runtime/container.hpp"
#include "ferry/runtime/defaults.hpp"
#include "registry_options.hpp"

namespace ferry::cli {
namespace {

enum class Mode { Run, Exec, Shell, Keep };

struct RunOptions {
  std::vector<std::string> volumes;
  std::vector<std::string> scratch;  // --scratch DST:size=SIZE
  std::vector<std::string> env;
  std::vector<std::string> env_files;
  bool clean_env = false;
  std::string workdir;
  bool writable_tmpfs = false;
  std::string shell;
  std::string pull = "missing";
  bool no_share = false;
  std::string mpi;  // --mpi[=PROFILE]: "true" for plain --mpi (CLI11's flag value), "" when not given
  hpc::DeviceRequest devices;  // --device, --cdi-spec-dir, --gpus
  int ready_fd = -1;  // Keep: where to say the container is ready
  int grace = -1;     // Keep: the holder's grace period, over ferry.toml's
  std::string image_root;  // Keep: the SquashFS IMAGE, already mounted there (Slurm kernel-mount=yes)
  std::string slurm_relay;  // Keep: relay Slurm commands to the host through a socket in this directory
  RegistryOptions reg;
};

void add_container_options(CLI::App& sub, RunOptions& o) {
  sub.add_option("-v,--volume", o.volumes,
                 "Bind SRC on the host at DST inside: SRC[:DST[:ro|rw]]; or a per-node cache: "
                 "SRC:DST:perNodeCache=size=SIZE (SRC ignored)")
      ->allow_extra_args(false);
  sub.add_option("--scratch", o.scratch,
                 "A private writable directory at DST on node-local disk, at most SIZE, discarded at exit: "
                 "DST:size=SIZE")
      ->allow_extra_args(false);
  sub.add_option("-e,--env", o.env, "Set NAME=VALUE inside (NAME alone: take the host's value)")
      ->allow_extra_args(false);
  sub.add_option("--env-file", o.env_files, "Read NAME=VALUE lines from FILE")->allow_extra_args(false);
  sub.add_flag("--cleanenv", o.clean_env, "Start from the image's environment only, not the host's");
  sub.add_option("-w,--workdir", o.workdir, "Working directory inside the container");
  sub.add_flag("--writable-tmpfs", o.writable_tmpfs,
               "Allow writes anywhere; they go to a tmpfs and vanish at exit");
  sub.add_flag("--no-share", o.no_share,
               "SquashFS (and a directory with --mpi): no shared mount holder; the container's own mount "
               "and namespaces");
  // A flag, not an option: "--mpi IMAGE" must not take IMAGE as the profile.
  sub.add_flag("--mpi", o.mpi, "Replace the image's MPICH-ABI MPI with the host's (PROFILE from ferry.toml)")
      ->type_name("[=PROFILE]");
  sub.add_option("--device", o.devices.devices,
                 "Add a device: a CDI name (vendor.com/class=name, =all) or a host device node path")
      ->allow_extra_args(false);
  sub.add_option("--cdi-spec-dir", o.devices.cdi_spec_dirs, "Read CDI specs from DIR (repeatable; replaces ferry.toml's)")
      ->allow_extra_args(false);
  sub.add_option("--gpus", o.devices.gpus,
                 "NVIDIA GPUs: all, or indices (0,1): through CDI's nvidia.com/gpu, else the host's driver");
  sub.add_option("--pull", o.pull, "Pull IMAGE from its registry: missing (not in the store), always, never")
      ->check(CLI::IsMember({"missing", "always", "never"}));
  add_registry_options(sub, o.reg);
  // IMAGE [COMMAND [ARG...]]: everything from the first positional on is
  // ours to pass through untouched, options of the command included.
  sub.prefix_command();
}

// The image to run: stored, pulled (--pull), or a path. One store lookup
// on the way: a stored name (or, even with --pull=always, the id of a
// stored image) is not pulled.
image::ResolvedImage resolve_image(const std::string& name, const RunOptions& o) {
  bool pullable = o.pull != "never" && !name.empty() && !image::is_path_spec(name) && !image::is_digest(name);
  bool hex = name.size() >= 4 && name.find_first_not_of("0123456789abcdef") == std::string::npos;
  std::optional<image::ResolvedImage> found;
  if (pullable && (o.pull == "missing" || hex)) found = image::resolve_name(name);
  if (pullable && !found) pull_into_store(name, o.reg, "", false);
  return found ? std::move(*found) : image::resolve(name);
}

int run_container(Mode mode, const RunOptions& o, const std::vector<std::string>& rest) {
  if (rest.empty()) throw Error("no image given (usage: ferry run [OPTIONS] IMAGE [COMMAND [ARG...]])");
  // prefix_command() also stops at an unknown option; before IMAGE it is a mistake.
  if (rest[0].size() > 1 && rest[0][0] == '-') throw Error("unknown option " + rest[0] + " (see ferry --help)");
  static const char* const kVerb[] = {"run", "exec", "shell", "container"};
  runtime::RunRequest req;
  try {
    req.image = resolve_image(rest[0], o);
    if (!o.image_root.empty()) {
      // slurmstepd mounted the file with the kernel's driver: that tree is
      // the root, a directory image; the config still comes from the file.
      if (req.image.format != image::Format::Squashfs) throw Error("--image-root needs a SquashFS image");
      req.image.path = o.image_root;
      req.image.format = image::Format::Directory;
    }
    req.command.assign(rest.begin() + 1, rest.end());
    if (mode == Mode::Keep) req.command = {"/bin/true"};  // never run: launchers bring their own
    if (mode == Mode::Exec && req.command.empty())
      throw Error("no command given (usage: ferry exec [OPTIONS] IMAGE COMMAND [ARG...])");
    if (mode == Mode::Shell) {
      if (!req.command.empty()) throw Error("ferry shell takes no command; use ferry exec");
      req.command = o.shell.empty()
                        ? std::vector<std::string>{"/bin/sh", "-c", "test -x /bin/bash && exec /bin/bash || exec /bin/sh"}
                        : std::vector<std::string>{o.shell};
    }
    req.ignore_entrypoint = mode != Mode::Run;
    std::vector<hpc::CacheSpec> caches;
    for (const auto& v : o.volumes) {
      if (auto c = hpc::parse_cache_volume(v)) caches.push_back(*c);
      else req.volumes.push_back(runtime::parse_volume(v));
    }
    for (const auto& s : o.scratch) caches.push_back(hpc::parse_scratch(s));
    req.env = o.env;
    req.env_files = o.env_files;
    req.clean_env = o.clean_env;
    if (!o.workdir.empty()) req.workdir = o.workdir;
    req.writable_tmpfs = o.writable_tmpfs;
    // A directory image joins a holder only for --mpi, so that its ranks
    // share one user namespace (docs/design/mpi.md); the keeper is already
    // that one namespace for a Slurm step.
    bool dir_holder = req.image.format == image::Format::Directory && !o.mpi.empty() && mode != Mode::Keep;
    // ferry.toml (read once, at the first load_config) only when an option
    // needs it: a plain directory image reads none.
    if (req.image.format == image::Format::Squashfs || dir_holder) {
      req.share = !o.no_share && load_config().mounts_share_or_default();
      req.share_grace = o.grace >= 0 ? o.grace : load_config().mounts_grace_or_default();
    } else {
      req.share = false;
    }
    if (!o.mpi.empty()) {
      auto profile = hpc::mpi_profile(load_config(), o.mpi == "true" ? "" : o.mpi);
      // One user namespace for the node's ranks: the image's mount holder,
      // or the Slurm keeper every task of the step enters.
      bool shared_userns = mode == Mode::Keep || req.share;
      req.edits.push_back(hpc::mpi_edits(profile, req.image.config.env, shared_userns));
    }
    if (!o.devices.devices.empty() || !o.devices.gpus.empty()) {
      hpc::DeviceSettings settings{load_config().cdi_spec_dirs.value_or(std::vector<std::string>{}),
                                   load_config().gpu_driver_root_or_default()};
      for (auto& ed : hpc::device_edits(o.devices, settings, runtime::host_environment()))
        req.edits.push_back(std::move(ed));
    }
    // Last: the backing directories exist only once every option is valid.
    if (!caches.empty()) req.edits.push_back(hpc::cache_edits(caches, hpc::cache_dir(load_config())));
    // A batch script's srun runs the host's, through a relay that stays
    // outside: started before the keeper enters any namespace, stopped
    // with it (docs/design/slurm-relay.md).
    std::optional<hpc::SlurmRelay> relay;
    if (mode == Mode::Keep && !o.slurm_relay.empty()) {
      relay.emplace(hpc::SlurmRelay::start(o.slurm_relay));
      req.edits.push_back(relay->edits());
    }
    if (mode == Mode::Keep) return runtime::keep(runtime::build_spec(req), o.ready_fd);
    return runtime::run(runtime::build_spec(req));
  } catch (Error& e) {
    throw e.context(std::string(kVerb[static_cast<int>(mode)]) + " " + rest[0]);
  }
}

Handler setup(CLI::App& sub, Mode mode) {
  auto o = std::make_shared<RunOptions>();
  add_container_options(sub, *o);
  if (mode == Mode::Shell) sub.add_option("--shell", o->shell, "Shell to start (default: /bin/bash, else /bin/sh)");
  if (mode == Mode::Keep) {
    sub.add_option("--ready-fd", o->ready_fd)->required();
    sub.add_option("--grace", o->grace)->check(CLI::Range(0, 86400));
    // Internal (spank_ferry.so, kernel-mount=yes); as the user, it grants nothing.
    sub.add_option("--image-root", o->image_root)->check(CLI::ExistingDirectory);
    sub.add_option("--slurm-relay", o->slurm_relay);
  }
  return [mode, o, &sub] { return run_container(mode, *o, sub.remaining()); };
}

}  // namespace

Handler setup_run(CLI::App& sub) { return setup(sub, Mode::Run); }
Handler setup_exec(CLI::App& sub) { return setup(sub, Mode::Exec); }
Handler setup_shell(CLI::App& sub) { return setup(sub, Mode::Shell); }
Handler setup_container_keeper(CLI::App& sub) { return setup(sub, Mode::Keep); }

// `ferry resolve-image [--pull=...] IMAGE`: prints the file that IMAGE
// names now (pulling it first if needed), so that a launcher can pin a job
// to those bits: store files are named by content and never rewritten.
Handler setup_resolve_image(CLI::App& sub) {
  auto o = std::make_shared<RunOptions>();
  auto name = std::make_shared<std::string>();
  sub.add_option("--pull", o->pull)->check(CLI::IsMember({"missing", "always", "never"}));
  add_registry_options(sub, o->reg);
  sub.add_option("IMAGE", *name)->required();
  return [o, name] {
    try {
      fmt::print("{}\n", resolve_image(*name, *o).path);
      return 0;
    } catch (Error& e) {
      throw e.context(*name);
    }
  };
}

}  // namespace ferry::cli
