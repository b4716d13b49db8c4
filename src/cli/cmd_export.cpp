// `ferry export [--format squashfs|tar] NAME PATH|-`: a stored image out.
#include <CLI/CLI.hpp>
#include <memory>

#include "command.hpp"
#include "ferry/core/error.hpp"
#include "ferry/image/export.hpp"
#include "ferry/image/image.hpp"

namespace ferry::cli {
namespace {

struct ExportOptions {
  std::string name, dest, format = "squashfs";
};

int run_export(const ExportOptions& o) {
  try {
    image::ExportFormat f;
    if (o.format == "squashfs") f = image::ExportFormat::Squashfs;
    else if (o.format == "tar") f = image::ExportFormat::Tar;
    else throw Error("--format: expected squashfs or tar, got '" + o.format + "'");
    auto e = image::find_stored(o.name);
    if (!e) throw Error("no such image in the store (ferry images lists them)");
    image::export_image(*e, o.dest, f);
    return 0;
  } catch (Error& err) {
    throw err.context("export " + o.name);
  }
}

}  // namespace

Handler setup_export(CLI::App& sub) {
  auto o = std::make_shared<ExportOptions>();
  sub.add_option("--format", o->format,
                 "squashfs (the image file) or tar (its root file system, as docker export)");
  sub.add_option("NAME", o->name, "Image name or id")->required();
  sub.add_option("PATH", o->dest, "Where to write it; - for standard output (tar only)")->required();
  return [o] { return run_export(*o); };
}

}  // namespace ferry::cli
