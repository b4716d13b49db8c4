// `ferry import SOURCE [NAME[:TAG]...]`: an image on disk into the store.
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <memory>

#include "command.hpp"
#include "ferry/core/config.hpp"
#include "ferry/core/error.hpp"
#include "ferry/image/import.hpp"

namespace ferry::cli {
namespace {

struct ImportOptions {
  std::string source;
  std::vector<std::string> names;
  int level = 0;  // 0: from ferry.toml, else its default
};

int run_import(const ImportOptions& o) {
  try {
    std::vector<image::Reference> refs;
    for (const auto& n : o.names) refs.push_back(image::parse_reference(n));
    image::Store store(image::Store::user_root());
    image::ConvertOptions conv;
    conv.zstd_level = o.level != 0 ? o.level : load_config().zstd_level_or_default();
    auto r = image::import_image(o.source, refs, store, conv);
    fmt::print("{}\n", r.image.id);
    return 0;
  } catch (Error& e) {
    throw e.context("import " + o.source);
  }
}

}  // namespace

Handler setup_import(CLI::App& sub) {
  auto o = std::make_shared<ImportOptions>();
  sub.add_option("SOURCE", o->source,
                 "docker-archive:PATH, oci-archive:PATH[:TAG], oci:DIR[:TAG], tar:PATH or dir:PATH")
      ->required();
  sub.add_option("NAME", o->names, "Names to store the image under, NAME[:TAG]");
  sub.add_option("--zstd-level", o->level, "zstd level of the SquashFS file, 1-22 (default: ferry.toml, else 3)")
      ->check(CLI::Range(1, 22));
  return [o] { return run_import(*o); };
}

}  // namespace ferry::cli
