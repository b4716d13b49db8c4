// `ferry rmi NAME...`: removes names; an image's file goes with its last name.
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <memory>

#include "command.hpp"
#include "ferry/core/error.hpp"
#include "ferry/image/reference.hpp"
#include "ferry/image/store.hpp"

namespace ferry::cli {

Handler setup_rmi(CLI::App& sub) {
  auto names = std::make_shared<std::vector<std::string>>();
  sub.add_option("NAME", *names, "Image names to remove")->required();
  return [names] {
    image::Store store(image::Store::user_root());
    for (const auto& n : *names) {
      try {
        image::Reference ref = image::parse_reference(n);
        auto deleted = store.remove(ref);
        fmt::print("Untagged: {}\n", ref.familiar());
        if (deleted) fmt::print("Deleted: {}\n", *deleted);
      } catch (Error& e) {
        throw e.context("rmi " + n);
      }
    }
    return 0;
  };
}

}  // namespace ferry::cli
