/// `ferry import`: an image on disk into the user's store, through the one
/// conversion pipeline (flatten.hpp) that pulled images will use too.
#pragma once

#include <string>
#include <vector>

#include "ferry/image/flatten.hpp"
#include "ferry/image/reference.hpp"
#include "ferry/image/store.hpp"

namespace ferry::image {

struct ImportResult {
  StoredImage image;
  ConvertStats stats;
};

/// SOURCE is "tar:PATH" (a root file-system tarball, plain, gzip or zstd),
/// "dir:PATH" (a root file-system directory), "docker-archive:PATH" (a
/// `docker save` tarball), "oci-archive:PATH[:TAG]" or "oci:DIR[:TAG]" (an
/// OCI image layout, as a tar or a directory). Every blob digest and diff_id
/// is verified. The image is stored under `names`, or for docker-archive:
/// under its RepoTags when `names` is empty. Throws a one-line Error naming
/// the blob or file and what is wrong; the store is left as it was.
ImportResult import_image(const std::string& source, const std::vector<Reference>& names, Store& store,
                          const ConvertOptions& options = {});

}  // namespace ferry::image
