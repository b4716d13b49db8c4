// `ferry push NAME [DEST]`: a stored image to a registry (to NAME's own
// registry and repository when DEST is not given).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <fmt/format.h>
#include <memory>

#include "command.hpp"
#include "ferry/core/error.hpp"
#include "ferry/image/image.hpp"
#include "ferry/registry/push.hpp"
#include "registry_options.hpp"

namespace ferry::cli {
namespace {

struct PushCliOptions {
  std::string name, dest;
  RegistryOptions reg;
  uint64_t chunk_mb = 64;
  bool quiet = false;
};

int run_push(const PushCliOptions& o) {
  image::Store store(image::Store::user_root());
  auto img = store.lookup(image::parse_reference(o.name));
  if (!img) img = store.lookup_id(o.name);
  if (!img) throw Error("no such image in your store (ferry images lists them)");
  image::Reference dest = image::parse_reference(o.dest.empty() ? o.name : o.dest);
  registry::PushOptions p;
  p.client = client_options(o.reg);
  p.chunk_size = o.chunk_mb << 20;
  p.quiet = o.quiet;
  for (const auto& [name, id] : store.names()) {
    if (id != img->id) continue;
    image::Reference other = image::parse_reference(name);
    if (other.domain == dest.domain && other.path != dest.path) p.mount_from.push_back(other.path);
  }
  auto r = registry::push_image(*img, store, dest, p);
  std::printf("%s\n", r.manifest_digest.c_str());
  return 0;
}

}  // namespace

Handler setup_push(CLI::App& sub) {
  auto o = std::make_shared<PushCliOptions>();
  sub.add_option("NAME", o->name, "Stored image: NAME[:TAG] or an image id")->required();
  sub.add_option("DEST", o->dest, "[docker://]REGISTRY/REPO[:TAG] to push to (default: NAME)");
  sub.add_option("--chunk-size", o->chunk_mb, "Upload blobs larger than this in chunks of it, in MiB (0: never)")
      ->check(CLI::Range(0, 4096));
  sub.add_flag("-q,--quiet", o->quiet, "No progress output");
  add_registry_options(sub, o->reg);
  return [o] {
    try {
      return run_push(*o);
    } catch (Error& e) {
      throw e.context("push " + o->name);
    }
  };
}

}  // namespace ferry::cli
