// `ferry mounts`, `ferry umount` and the hidden `ferry mount-holder`: the
// user's shared image mounts on this node (ferry/runtime/mounts.hpp).
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <ctime>
#include <memory>
#include <string>
#include <nlohmann/json.hpp>

#include "command.hpp"
#include "ferry/core/error.hpp"
#include "ferry/image/image.hpp"
#include "ferry/runtime/mounts.hpp"

namespace ferry::cli {
namespace {

std::string age(int64_t since) {
  int64_t s = std::max<int64_t>(0, std::time(nullptr) - since);
  if (s < 60) return fmt::format("{}s", s);
  if (s < 3600) return fmt::format("{}m{:02}s", s / 60, s % 60);
  return fmt::format("{}h{:02}m", s / 3600, s / 60 % 60);
}

int list(const std::string& format) {
  auto holders = runtime::list_holders();
  if (format == "json") {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& h : holders)
      out.push_back({{"Image", h.image}, {"Path", h.path}, {"Key", h.key}, {"Pid", h.pid}, {"Since", h.since},
                     {"Containers", h.attached}, {"Requests", h.requests}, {"Grace", h.grace},
                     {"Kind", h.directory ? "directory" : "squashfs"}});
    fmt::print("{}\n", out.dump(2));
    return 0;
  }
  if (format != "table") throw Error("--format: expected table or json, got '" + format + "'");
  fmt::print("{:<40} {:>8}  {:>7}  {:>10}  {:>10}  {}\n", "IMAGE", "PID", "SINCE", "CONTAINERS", "REQUESTS", "PATH");
  // A directory image's holder mounts nothing and serves no requests: "-".
  for (const auto& h : holders)
    fmt::print("{:<40} {:>8}  {:>7}  {:>10}  {:>10}  {}\n", h.image, h.pid, age(h.since), h.attached,
               h.directory ? std::string("-") : std::to_string(h.requests), h.path);
  return 0;
}

// Ends one holder; false when it is busy (said on stderr).
bool end_one(const std::string& key, const std::string& label, bool quiet_if_none) {
  unsigned attached = 0;
  switch (runtime::stop_holder(key, attached)) {
    case runtime::StopOutcome::Stopped:
      fmt::print("Unmounted: {}\n", label);
      return true;
    case runtime::StopOutcome::Busy:
      fmt::print(stderr, "ferry: {}: in use by {} container{}; it ends by itself after they exit\n", label,
                 attached, attached == 1 ? "" : "s");
      return false;
    case runtime::StopOutcome::NotRunning:
      if (!quiet_if_none) throw Error("not mounted (no mount holder runs for it)");
      return true;
  }
  return true;
}

}  // namespace

Handler setup_mounts(CLI::App& sub) {
  auto format = std::make_shared<std::string>("table");
  sub.add_option("--format", *format, "table or json");
  return [format] { return list(*format); };
}

Handler setup_umount(CLI::App& sub) {
  auto image = std::make_shared<std::string>();
  auto all = std::make_shared<bool>(false);
  sub.add_option("IMAGE", *image, "Image (name, id, SquashFS or directory path) whose shared mount to end");
  sub.add_flag("--all", *all, "End every idle shared mount of yours on this node");
  return [image, all] {
    if (*all == !image->empty()) throw Error("umount: give IMAGE or --all (not both)");
    bool ok = true;
    if (*all) {
      for (const auto& h : runtime::list_holders())
        ok = end_one(h.key, h.image.empty() ? h.path : h.image, true) && ok;
    } else {
      try {
        // Either kind: a directory's holder (ferry run --mpi DIR) too.
        image::ResolvedImage img = image::resolve(*image);
        ok = end_one(runtime::mount_key(img.path), *image, false);
      } catch (Error& e) {
        throw e.context("umount " + *image);
      }
    }
    return ok ? 0 : 1;
  };
}

Handler setup_mount_holder(CLI::App& sub) {
  auto args = std::make_shared<runtime::HolderArgs>();
  sub.add_option("--key", args->key)->required();
  sub.add_option("--image", args->image);
  sub.add_option("--grace", args->grace)->required();
  sub.add_flag("--directory", args->directory);
  sub.add_option("--point", args->points)->expected(1)->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  sub.add_option("--ready-fd", args->ready_fd)->required();
  sub.add_option("PATH", args->path)->required();
  return [args] { return runtime::holder_main(*args); };
}

}  // namespace ferry::cli
