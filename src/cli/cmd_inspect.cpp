// `ferry inspect NAME`: one stored image as JSON (id, names, config, file).
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <memory>

#include "command.hpp"
#include "ferry/core/error.hpp"
#include "ferry/core/fd.hpp"
#include "ferry/core/sha256.hpp"
#include "ferry/image/image.hpp"
#include "image_info.hpp"

namespace ferry::cli {
namespace {

int inspect(const std::vector<std::string>& names) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& name : names) {
    try {
      auto e = image::find_stored(name);
      if (!e) throw Error("no such image in the store");
      // The store that holds it: the image file lives under its root.
      image::Store store(e->sqfs.substr(0, e->sqfs.rfind("/images/")));
      ImageInfo info = image_info(store, e->id);
      nlohmann::json tags = nlohmann::json::array();
      for (const auto& [n, id] : store.names())
        if (id == e->id) tags.push_back(n);
      const nlohmann::json& c = info.config;
      // The manifest its layers came with (pull REPO@THIS pins these bits).
      nlohmann::json manifest = nullptr;
      if (::access(e->manifest.c_str(), R_OK) == 0)
        manifest = {{"Digest", sha256_digest(read_file(e->manifest))}, {"Path", e->manifest}};
      out.push_back({{"Id", e->id},
                     {"RepoTags", tags},
                     {"Created", info.created},
                     {"Architecture", c.value("architecture", "")},
                     {"Os", c.value("os", "")},
                     {"Config", c.value("config", nlohmann::json::object())},
                     {"RootFS", c.value("rootfs", nlohmann::json::object())},
                     {"Squashfs", {{"Path", info.sqfs}, {"Size", info.size}}},
                     {"Manifest", manifest}});
    } catch (Error& err) {
      throw err.context("inspect " + name);
    }
  }
  fmt::print("{}\n", out.dump(2));
  return 0;
}

}  // namespace

Handler setup_inspect(CLI::App& sub) {
  auto names = std::make_shared<std::vector<std::string>>();
  sub.add_option("NAME", *names, "Image name or id")->required();
  return [names] { return inspect(*names); };
}

}  // namespace ferry::cli
