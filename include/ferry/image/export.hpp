/// `ferry export`: a stored image out of the store, as its SquashFS file.
/// (A root file-system tarball, what `docker export` gives, is specified and
/// refused with a clear message for now: see export.cpp.)
#pragma once

#include <string>

#include "ferry/image/store.hpp"

namespace ferry::image {

enum class ExportFormat { Squashfs, Tar };

/// Writes IMAGE to DEST, atomically: nothing is left there on failure.
void export_image(const StoredImage& image, const std::string& dest, ExportFormat format);

}  // namespace ferry::image
