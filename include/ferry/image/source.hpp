/// Image sources on disk, read in place: an OCI image layout (a directory,
/// or a tar of one), a `docker save` archive (both layouts), and a root
/// file-system directory. Each becomes a SourceImage: the config bytes, and
/// for each layer where its blob lies (a file, or a window of an
/// uncompressed archive) and which digests it must have. import.cpp feeds
/// the layers to convert_layers() and checks the digests as they stream.
///
/// Nothing here extracts anything: archives are indexed once (one header
/// read per member) and members are read at their offset.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ferry::image {

/// Bytes of one file: `length` bytes at `offset` of `path`.
struct FileWindow {
  std::string path;
  uint64_t offset = 0;
  uint64_t length = 0;
};

/// The files of a source, by their name inside it ("index.json",
/// "blobs/sha256/<hex>"): a directory, or the members of an uncompressed tar.
class SourceFiles {
 public:
  virtual ~SourceFiles() = default;
  /// The regular file NAME (symlinks and hard links inside an archive are
  /// followed), or nothing.
  virtual std::optional<FileWindow> find(std::string_view name) const = 0;

  /// The whole of NAME (at most `max` bytes); throws "WHAT: missing (NAME)"
  /// when it is not there ("config sha256:…: missing (blobs/sha256/…)").
  std::string read(std::string_view name, const std::string& what, uint64_t max = 64 << 20) const;
};

/// A directory's files (OCI image layout directory).
std::unique_ptr<SourceFiles> open_directory(const std::string& dir);
/// An uncompressed tar's members, indexed in one pass over its headers.
/// Throws for a compressed, truncated or malformed archive.
std::unique_ptr<SourceFiles> open_tar(const std::string& path);

/// One layer to convert, as its manifest describes it.
struct SourceLayer {
  std::string label;                  ///< "layer sha256:<hex>" or the member name
  FileWindow blob;                    ///< where its bytes are
  std::optional<std::string> digest;  ///< the blob's digest, when the source names it
  std::optional<uint64_t> size;       ///< the blob's size, when the manifest gives it
  std::string diff_id;                ///< from the config's rootfs.diff_ids
};

/// An image found in a source, before conversion. Config, manifest and
/// index have been checked against their digests already.
struct SourceImage {
  std::string config;               ///< the config blob, byte for byte
  std::vector<SourceLayer> layers;  ///< oldest first, as manifests list them
  std::vector<std::string> names;   ///< names the source gives (RepoTags)
  std::string manifest;             ///< the image manifest, byte for byte (OCI layouts); else empty
};

/// A platform as OCI image indexes name it (image-spec image-index.md).
struct Platform {
  std::string os = "linux";
  std::string architecture;  ///< "amd64", "arm64"…
  std::string variant;       ///< "v8"…, empty when none
};

/// This machine's platform in OCI's words.
Platform host_platform();

/// "os/arch[/variant]" (as --platform takes it); throws naming TEXT.
Platform parse_platform(std::string_view text);

/// "linux/arm64/v8".
std::string platform_name(const Platform& p);

/// A blob as a manifest or index points at it.
struct BlobDescriptor {
  std::string media_type;         ///< may be empty for a document whose type is not known yet
  std::string digest;             ///< "sha256:<hex>"; empty for a registry tag not yet fetched
  std::optional<uint64_t> size;
};

/// A document fetched for resolve_image(): its bytes (already checked
/// against the descriptor's digest and size by the fetcher), the media type
/// its server gave (may be empty) and its digest.
struct Document {
  std::string body, media_type, digest;
};
/// Fetches the manifest or index (`manifest` true) or config D names;
/// WHAT names it in errors.
using FetchDocument = std::function<Document(const BlobDescriptor& d, bool manifest, const std::string& what)>;

/// An image manifest followed to its config and layers.
struct ManifestImage {
  std::string manifest;             ///< the image manifest, byte for byte
  std::string manifest_media_type;  ///< OCI or Docker schema 2
  std::string manifest_digest;
  std::string config;               ///< the config blob, byte for byte
  std::vector<BlobDescriptor> layers;  ///< oldest first; media types known to ferry
};

/// Fetches TOP (a manifest, or an index or manifest list followed to the
/// manifest for PLATFORM) and its config; checks media types.
ManifestImage resolve_image(const BlobDescriptor& top, const Platform& platform, const FetchDocument& fetch);

/// A `docker save` archive's image (manifest.json). With several images in
/// the archive, `want` (a normalised name) picks the one tagged so.
SourceImage read_docker_archive(const SourceFiles& files, const std::vector<std::string>& want);

/// The image of an OCI image layout tagged TAG (the annotation
/// org.opencontainers.image.ref.name), or its only one when TAG is empty;
/// indexes are followed to the manifest for `platform`.
SourceImage read_oci_layout(const SourceFiles& files, const std::string& tag, const Platform& platform);

/// Checks that `config` (an image config) lists one diff_id per layer and
/// fills them in; throws naming the config otherwise.
void attach_diff_ids(std::string_view config, std::vector<SourceLayer>& layers);

/// Streams the directory DIR as a pax tar into `fd` (a pipe or socket),
/// then closes it: depth first, names in byte order, hard links detected,
/// symlinks kept, sockets left out, so one tree gives the same bytes every
/// time. Runs on its own thread in import; throws ferry::Error naming the path.
void write_dir_tar(const std::string& dir, int fd);

}  // namespace ferry::image
