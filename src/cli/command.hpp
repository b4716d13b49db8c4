/// The command table: each subcommand lives in its own file and registers
/// its options on a CLI11 subcommand, returning the function that runs it
/// (STYLE.md 1). Commands only translate options into library calls.
#pragma once

#include <functional>
#include <vector>

namespace CLI {
class App;
}

namespace ferry::cli {

/// Runs a parsed command; returns ferry's exit status.
using Handler = std::function<int()>;

struct Command {
  const char* name;
  const char* summary;  ///< empty: hidden from --help (ferry's own use)
  /// Adds the subcommand's options to `sub`; returns its handler.
  Handler (*setup)(CLI::App& sub);
};

/// All subcommands, in help order.
const std::vector<Command>& commands();

// One per file.
Handler setup_run(CLI::App& sub);
Handler setup_exec(CLI::App& sub);
Handler setup_shell(CLI::App& sub);
Handler setup_images(CLI::App& sub);
Handler setup_export(CLI::App& sub);
Handler setup_import(CLI::App& sub);
Handler setup_inspect(CLI::App& sub);
Handler setup_tag(CLI::App& sub);
Handler setup_rmi(CLI::App& sub);
Handler setup_pull(CLI::App& sub);
Handler setup_push(CLI::App& sub);
Handler setup_login(CLI::App& sub);
Handler setup_logout(CLI::App& sub);
Handler setup_mounts(CLI::App& sub);
Handler setup_umount(CLI::App& sub);
Handler setup_mount_holder(CLI::App& sub);
Handler setup_container_keeper(CLI::App& sub);
Handler setup_resolve_image(CLI::App& sub);

}  // namespace ferry::cli
