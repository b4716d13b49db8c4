/// `ferry pull`: an image from a registry into the store, ready to run.
///
/// Download, verification, decompression and compression overlap: layers
/// download in parallel into the store's blob directory, each checked
/// against its digest as it streams, while the conversion (flatten.hpp)
/// reads the newest layer as its bytes arrive. A blob the store holds
/// already is not downloaded again. Nothing is published until every digest
/// and diff_id checked out.
#pragma once

#include <optional>
#include <string>

#include "ferry/image/flatten.hpp"
#include "ferry/image/reference.hpp"
#include "ferry/image/source.hpp"
#include "ferry/image/store.hpp"
#include "ferry/registry/client.hpp"

namespace ferry::registry {

struct PullOptions {
  ClientOptions client;
  image::Platform platform = image::host_platform();
  image::ConvertOptions convert;
  enum class Progress { kAuto, kQuiet } progress = Progress::kAuto;
};

struct PullResult {
  image::StoredImage image;
  std::string manifest_digest;
  bool already = false;          ///< the image was stored already; only its name was added
  uint64_t downloaded = 0;       ///< blob bytes fetched
  image::ConvertStats stats;
};

/// Pulls REF and stores it under REF's name. Throws a one-line Error
/// naming the manifest, blob or layer at fault; the store keeps what it had.
PullResult pull_image(const image::Reference& ref, image::Store& store, const PullOptions& options);

}  // namespace ferry::registry
