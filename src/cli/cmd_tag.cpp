// `ferry tag SRC DST`: another name for a stored image.
#include <CLI/CLI.hpp>
#include <memory>

#include "command.hpp"
#include "ferry/core/error.hpp"
#include "ferry/image/reference.hpp"
#include "ferry/image/store.hpp"

namespace ferry::cli {

Handler setup_tag(CLI::App& sub) {
  auto args = std::make_shared<std::pair<std::string, std::string>>();
  sub.add_option("SRC", args->first, "Existing image name")->required();
  sub.add_option("DST", args->second, "New name")->required();
  return [args] {
    try {
      image::Store store(image::Store::user_root());
      store.tag(image::parse_reference(args->first), image::parse_reference(args->second));
      return 0;
    } catch (Error& e) {
      throw e.context("tag " + args->first + " " + args->second);
    }
  };
}

}  // namespace ferry::cli
