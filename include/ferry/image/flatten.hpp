/// Converting an image's layers into one SquashFS file in one streaming pass
/// (ARCHITECTURE.md decision 4; docs/design/convert.md). Layers are read
/// newest first: the first entry seen for a path wins, whiteouts and opaque
/// directories hide what lies below them, and file bodies go straight into
/// the SquashFS writer. Memory grows with the number of paths, not bytes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ferry/image/layer.hpp"

namespace ferry::image {

struct ConvertOptions {
  int zstd_level = 3;    // 1-22; 3 is ~15x faster than mksquashfs's 15, ~12% larger
  unsigned threads = 0;  // block compression workers; 0: all cores
};

struct ConvertStats {
  uint64_t files = 0, dirs = 0, symlinks = 0, hardlinks = 0, fifos = 0;
  uint64_t dropped_devices = 0;    // device nodes left out (the caller warns once)
  uint64_t dropped_hardlinks = 0;  // links whose target is not in the final tree
  uint64_t dropped_xattrs = 0;     // xattrs SquashFS cannot hold (system.*)
  uint64_t bytes_in = 0;           // layer bytes read, as stored (compressed)
  uint64_t data_bytes = 0;         // file bytes stored in the image
  uint64_t image_bytes = 0;        // size of the SquashFS file
};

/// Writes the flattened tree of `newest_first` to `out_path` (atomically:
/// a temporary file beside it, fsync, rename). Throws ferry::Error naming
/// the layer and the path for hostile entries (absolute paths, "..",
/// writing through a symlink or file of the same layer) and damaged streams;
/// on error nothing is left at `out_path` or beside it.
ConvertStats convert_layers(const std::vector<LayerSource>& newest_first, const std::string& out_path,
                            const ConvertOptions& options = {});

}  // namespace ferry::image
