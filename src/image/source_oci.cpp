// An OCI image layout, as a directory or a tar of one (image-spec
// image-layout.md): oci-layout, index.json, blobs/sha256/<hex>. index.json
// names manifests (tagged by org.opencontainers.image.ref.name); a manifest
// may be an index of per-platform manifests, followed to this machine's.
// Every blob read here is checked against its digest and size; layer blobs
// are checked while they stream through the conversion (import.cpp).
#include <sys/utsname.h>

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

#include "ferry/core/error.hpp"
#include "ferry/image/source.hpp"
#include "source_json.hpp"

namespace ferry::image {
namespace {

using nlohmann::json;
using source::string_field;

constexpr std::string_view kRefName = "org.opencontainers.image.ref.name";
constexpr const char* kOciIndex = "application/vnd.oci.image.index.v1+json";
constexpr const char* kDockerList = "application/vnd.docker.distribution.manifest.list.v2+json";
constexpr const char* kOciManifest = "application/vnd.oci.image.manifest.v1+json";
constexpr const char* kDockerManifest = "application/vnd.docker.distribution.manifest.v2+json";

// Layer media types ferry reads (compression is told by magic bytes, so the
// suffix only has to be one of these). Non-distributable ("foreign") layers
// are read like the others when their blob is in the layout; ferry never
// fetches their `urls`.
bool known_layer_type(std::string_view t) {
  for (std::string_view base : {"application/vnd.oci.image.layer.v1.tar",
                                "application/vnd.oci.image.layer.nondistributable.v1.tar"})
    if (t == base || (t.starts_with(base) && (t.substr(base.size()) == "+gzip" || t.substr(base.size()) == "+zstd")))
      return true;
  return t == "application/vnd.docker.image.rootfs.diff.tar" ||
         t == "application/vnd.docker.image.rootfs.diff.tar.gzip" ||
         t == "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
}

bool foreign_layer_type(std::string_view t) {
  return t.find("nondistributable") != std::string_view::npos || t.find("foreign") != std::string_view::npos;
}

struct Descriptor {
  std::string media_type, digest, ref_name;
  std::optional<uint64_t> size;
  std::optional<Platform> platform;
};

Descriptor descriptor(const json& j, const std::string& what) {
  Descriptor d;
  d.media_type = string_field(j, "mediaType", what, false);
  d.digest = string_field(j, "digest", what);
  source::blob_path(d.digest, what);  // validates it
  if (auto s = j.find("size"); s != j.end()) {
    if (!s->is_number_unsigned()) throw Error(what + ": size: not a number");
    d.size = s->get<uint64_t>();
  }
  if (auto a = j.find("annotations"); a != j.end() && a->is_object())
    if (auto r = a->find(kRefName); r != a->end() && r->is_string()) d.ref_name = r->get<std::string>();
  if (auto p = j.find("platform"); p != j.end() && p->is_object())
    d.platform = Platform{string_field(*p, "os", what + ": platform"),
                          string_field(*p, "architecture", what + ": platform"),
                          string_field(*p, "variant", what + ": platform", false)};
  return d;
}

std::vector<Descriptor> manifests_of(const json& index, const std::string& what) {
  std::vector<Descriptor> out;
  const json& list = source::array_field(index, "manifests", what);
  for (size_t i = 0; i < list.size(); ++i) out.push_back(descriptor(list[i], fmt::format("{}: manifests[{}]", what, i)));
  if (out.empty()) throw Error(what + ": no manifests");
  return out;
}

std::string platform_name(const std::optional<Platform>& p) { return p ? image::platform_name(*p) : "unknown"; }

// The manifest for PLATFORM among several (the first whose variant matches
// too, else the first with the right os/arch).
const Descriptor& by_platform(const std::vector<Descriptor>& c, const Platform& want, const std::string& what) {
  if (c.size() == 1 && !c.front().platform) return c.front();  // nothing to choose by
  const Descriptor* found = nullptr;
  for (const auto& d : c) {
    if (!d.platform || d.platform->os != want.os || d.platform->architecture != want.architecture) continue;
    if (d.platform->variant == want.variant) return d;
    // A variant on one side only is no contradiction (arm64 is arm64/v8);
    // two different variants are.
    if (!found && (d.platform->variant.empty() || want.variant.empty())) found = &d;
  }
  if (found) return *found;
  std::string have;
  for (const auto& d : c) have += (have.empty() ? "" : ", ") + platform_name(d.platform);
  throw Error(fmt::format("{}: no image for {} (it has {})", what, platform_name(want), have));
}

// The entries of index.json the user means: those tagged TAG, or all.
std::vector<Descriptor> tagged(std::vector<Descriptor> all, const std::string& tag) {
  std::vector<std::string> tags;
  for (const auto& d : all)
    if (!d.ref_name.empty() && std::find(tags.begin(), tags.end(), d.ref_name) == tags.end()) tags.push_back(d.ref_name);
  std::string list = tags.empty() ? "none" : fmt::format("{}", fmt::join(tags, ", "));
  if (tag.empty()) {
    if (tags.size() > 1) throw Error(fmt::format("index.json: {} tags; name one as oci:DIR:TAG (tags: {})", tags.size(), list));
    return all;
  }
  std::erase_if(all, [&](const Descriptor& d) { return d.ref_name != tag; });
  if (all.empty()) throw Error(fmt::format("index.json: no image tagged '{}' (tags: {})", tag, list));
  return all;
}

SourceLayer layer_of(const SourceFiles& files, const BlobDescriptor& d) {
  std::string what = "layer " + d.digest;
  std::string path = source::blob_path(d.digest, what);
  auto w = files.find(path);
  if (!w)
    throw Error(fmt::format("{}: blob missing ({}){}", what, path,
                            foreign_layer_type(d.media_type) ? "; a foreign layer: ferry does not download it" : ""));
  return SourceLayer{what, *w, d.digest, d.size, {}};
}

BlobDescriptor blob_descriptor(const Descriptor& d) { return BlobDescriptor{d.media_type, d.digest, d.size}; }

ManifestImage image_of(const json& manifest, const std::string& what, const FetchDocument& fetch) {
  if (!manifest.contains("config")) throw Error(what + ": config: missing");
  Descriptor cd = descriptor(manifest["config"], what + ": config");
  std::string cwhat = "config " + cd.digest;
  if (cd.media_type != "application/vnd.oci.image.config.v1+json" &&
      cd.media_type != "application/vnd.docker.container.image.v1+json")
    throw Error(fmt::format("{}: unknown media type '{}' (not a container image)", cwhat, cd.media_type));
  ManifestImage img;
  img.config = fetch(blob_descriptor(cd), false, cwhat).body;
  const json& layers = source::array_field(manifest, "layers", what);
  for (size_t i = 0; i < layers.size(); ++i) {
    Descriptor d = descriptor(layers[i], fmt::format("{}: layers[{}]", what, i));
    if (!known_layer_type(d.media_type))
      throw Error(fmt::format("layer {}: unknown media type '{}'", d.digest, d.media_type));
    img.layers.push_back(blob_descriptor(d));
  }
  return img;
}

// Reads the document D names and follows indexes down to one image manifest.
ManifestImage resolve(const BlobDescriptor& d, const Platform& want, const FetchDocument& fetch, int depth) {
  Document got = fetch(d, true, (d.digest.empty() ? "manifest" : "manifest " + d.digest));
  std::string type = d.media_type.empty() ? got.media_type : d.media_type;
  bool index_type = type == kOciIndex || type == kDockerList;
  std::string digest = d.digest.empty() ? got.digest : d.digest;
  std::string what = (index_type ? "index " : "manifest ") + digest;
  if (!type.empty() && !index_type && type != kOciManifest && type != kDockerManifest)
    throw Error(fmt::format("{}: unknown media type '{}'", what, type));
  json doc = source::parse_json(got.body, what);
  if (!doc.is_object()) throw Error(what + ": malformed: expected an object");
  if (index_type || (type.empty() && doc.contains("manifests"))) {
    if (depth >= 4) throw Error(what + ": indexes nested too deep");
    return resolve(blob_descriptor(by_platform(manifests_of(doc, what), want, what)), want, fetch, depth + 1);
  }
  ManifestImage img = image_of(doc, what, fetch);
  img.manifest_digest = digest;
  img.manifest = std::move(got.body);
  img.manifest_media_type = type.empty() ? kOciManifest : type;
  return img;
}

}  // namespace

Platform host_platform() {
  struct utsname u {};
  ::uname(&u);
  std::string m = u.machine;
  if (m == "x86_64") return {"linux", "amd64", ""};
  if (m == "aarch64") return {"linux", "arm64", "v8"};
  if (m == "armv7l") return {"linux", "arm", "v7"};
  if (m == "i686") return {"linux", "386", ""};
  return {"linux", m, ""};  // ppc64le, s390x, riscv64: same names
}

std::string platform_name(const Platform& p) {
  return p.os + "/" + p.architecture + (p.variant.empty() ? "" : "/" + p.variant);
}

Platform parse_platform(std::string_view text) {
  std::vector<std::string> parts;
  for (size_t start = 0;;) {
    size_t slash = text.find('/', start);
    parts.emplace_back(text.substr(start, slash - start));
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  bool ok = parts.size() >= 2 && parts.size() <= 3;
  for (const auto& p : parts)
    ok = ok && !p.empty() && std::all_of(p.begin(), p.end(), [](unsigned char c) { return std::isalnum(c) || c == '_' || c == '-'; });
  if (!ok) throw Error(fmt::format("platform '{}': expected OS/ARCH[/VARIANT], e.g. linux/arm64/v8", text));
  Platform p{parts[0], parts[1], parts.size() == 3 ? parts[2] : ""};
  if (p.architecture == "arm64" && p.variant.empty()) p.variant = "v8";
  return p;
}

ManifestImage resolve_image(const BlobDescriptor& top, const Platform& platform, const FetchDocument& fetch) {
  return resolve(top, platform, fetch, 0);
}

SourceImage read_oci_layout(const SourceFiles& files, const std::string& tag, const Platform& platform) {
  json layout = source::parse_json(files.read("oci-layout", "oci-layout (not an OCI image layout)", 1 << 16),
                                   "oci-layout");
  string_field(layout, "imageLayoutVersion", "oci-layout");
  json index = source::parse_json(files.read("index.json", "index.json"), "index.json");
  if (!index.is_object()) throw Error("index.json: malformed: expected an object");
  auto chosen = tagged(manifests_of(index, "index.json"), tag);
  auto read = [&files](const BlobDescriptor& d, bool, const std::string& what) {
    return Document{source::read_verified(files, source::blob_path(d.digest, what), d.digest, d.size, what), "",
                    d.digest};
  };
  ManifestImage r = resolve_image(blob_descriptor(by_platform(chosen, platform, "index.json")), platform, read);
  SourceImage img;
  img.config = std::move(r.config);
  img.manifest = std::move(r.manifest);
  for (const auto& d : r.layers) img.layers.push_back(layer_of(files, d));
  attach_diff_ids(img.config, img.layers);
  return img;
}

}  // namespace ferry::image
