/// The caller's passwd and group entries, merged into the image's own files
/// so that `id`, `ls -l` and `whoami` work inside (Singularity does the same).
#pragma once

#include <string>
#include <vector>

namespace ferry::runtime {

/// Returns `image_file` without lines whose name (field 1) or id (field 3)
/// matches one of `ours`, followed by `ours`.
std::string merge_account_file(const std::string& image_file, const std::vector<std::string>& ours);

}  // namespace ferry::runtime
