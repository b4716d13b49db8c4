/// `ferry export`: a stored image out of the store, as its SquashFS file or
/// as a root file-system tarball, what `docker export` gives (a pax tar of
/// every entry but the root directory, "./"-less names depth first in byte
/// order, hard links, symlinks and xattrs kept; docs/cli/images.md). The
/// tar is read from the SquashFS file and written as it goes: memory holds
/// one directory listing per level and the first path of each hard-linked
/// inode, never a file's bytes.
#pragma once

#include <string>

#include "ferry/image/store.hpp"

namespace ferry::image {

enum class ExportFormat { Squashfs, Tar };

/// Writes IMAGE to DEST, atomically: a temporary file beside DEST, fsync,
/// rename; nothing is left there on failure. DEST "-" (Tar only) streams to
/// standard output, and is refused when that is a terminal. Throws
/// ferry::Error naming what failed: the file written, or the path inside
/// the image that could not be read.
void export_image(const StoredImage& image, const std::string& dest, ExportFormat format);

}  // namespace ferry::image
