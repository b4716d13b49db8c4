/// `ferry push`: a stored image to a registry, as a standard OCI image: the
/// manifest it was pulled or imported with, its config and its layer blobs
/// as the store keeps them (store.hpp), so Docker, Podman and Apptainer can
/// pull it and a ferry pull gives back the same SquashFS file.
///
/// Blobs the registry has already are skipped (HEAD); blobs another
/// repository of the same registry holds are cross-mounted when the
/// registry allows it; others are uploaded, in one PUT or in chunks.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ferry/image/reference.hpp"
#include "ferry/image/store.hpp"
#include "ferry/registry/client.hpp"

namespace ferry::registry {

struct PushOptions {
  ClientOptions client;
  /// Blobs larger than this go up in PATCH chunks of this size; 0: every
  /// blob in one PUT.
  uint64_t chunk_size = 64u << 20;
  bool quiet = false;
  /// Repositories of DEST's registry that may hold the blobs (the image's
  /// other names there): tried for a cross-repository mount.
  std::vector<std::string> mount_from;
};

struct PushResult {
  std::string manifest_digest;
  uint64_t uploaded = 0;  ///< blob bytes sent
  int skipped = 0;        ///< blobs the registry had (or mounted)
};

/// Pushes IMAGE, kept in STORE, to DEST (a tag; a digest reference is
/// refused). Throws a one-line Error naming what failed.
PushResult push_image(const image::StoredImage& image, const image::Store& store, const image::Reference& dest,
                      const PushOptions& options);

}  // namespace ferry::registry
