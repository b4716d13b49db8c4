// The ferry command: parse, dispatch to the command table, print a failure
// once as one line and exit 125/126/127 (ARCHITECTURE.md "Exit codes").
#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>
#include <string>
#include <string_view>

#include "command.hpp"
#include "ferry/core/error.hpp"
#include "ferry/core/log.hpp"

namespace ferry::cli {

const std::vector<Command>& commands() {
  static const std::vector<Command> table = {
      {"run", "Run an image's entrypoint/cmd, or COMMAND, in a container", setup_run},
      {"exec", "Run COMMAND in a container, ignoring the image's entrypoint", setup_exec},
      {"shell", "Open an interactive shell in a container", setup_shell},
      {"pull", "Pull an image from a registry into your store", setup_pull},
      {"push", "Push a stored image to a registry", setup_push},
      {"import", "Convert an image on disk into your store", setup_import},
      {"images", "List the images in your store", setup_images},
      {"inspect", "Show a stored image as JSON", setup_inspect},
      {"tag", "Give a stored image another name", setup_tag},
      {"rmi", "Remove image names (and an image with its last name)", setup_rmi},
      {"export", "Write a stored image out, as SquashFS or a tarball", setup_export},
      {"login", "Save credentials for a registry", setup_login},
      {"logout", "Forget the credentials for a registry", setup_logout},
      {"mounts", "List your shared image mounts on this node", setup_mounts},
      {"umount", "End an idle shared image mount (or all: --all)", setup_umount},
      {"mount-holder", "", setup_mount_holder},
      {"container-keeper", "", setup_container_keeper},
      {"resolve-image", "", setup_resolve_image},
  };
  return table;
}

namespace {

// Building every subcommand's options costs more than parsing them; at each
// container start only the one being run is built. --help, a typo or no
// command at all get the whole table.
const Command* requested(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--debug") continue;
    if (a.empty() || a[0] == '-') return nullptr;
    for (const auto& c : commands())
      if (a == c.name) return &c;
    return nullptr;
  }
  return nullptr;
}

int run_main(int argc, char** argv) {
  CLI::App app{"ferry: containers for HPC, rootless, from one SquashFS file", "ferry"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "ferry " FERRY_VERSION);
  bool debug = false;
  app.add_flag("--debug", debug, "Print debug lines and step timings on stderr");
  Handler handler;
  const Command* only = requested(argc, argv);
  for (const auto& c : commands()) {
    if (only != nullptr && only != &c) continue;
    CLI::App* sub = app.add_subcommand(c.name, c.summary);
    if (c.summary[0] == '\0') sub->group("");
    Handler h = c.setup(*sub);
    sub->callback([&handler, h] { handler = h; });
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version arrive here too, with exit code 0.
    if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) return app.exit(e);
    log::error(std::string(e.what()) + " (see ferry --help)");
    return kExitFailure;
  }
  if (debug) log::set_debug(true);
  return handler();
}

}  // namespace
}  // namespace ferry::cli

int main(int argc, char** argv) {
  try {
    return ferry::cli::run_main(argc, argv);
  } catch (const ferry::Error& e) {
    ferry::log::error(e.what());
    return e.exit_code();
  } catch (const std::exception& e) {
    ferry::log::error(e.what());
    return ferry::kExitFailure;
  }
}
