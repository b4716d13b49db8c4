/// An exclusive flock(2) on a lock file, held until destroyed (STYLE.md 5).
/// Waits; says once on stderr when the wait is long, so a user knows why.
#pragma once

#include <string>

#include "ferry/core/fd.hpp"

namespace ferry {

class FileLock {
 public:
  /// Creates PATH if needed and takes the lock, waiting for other holders.
  explicit FileLock(const std::string& path);
  FileLock(FileLock&&) = default;
  FileLock& operator=(FileLock&&) = default;
  ~FileLock() = default;  // closing the fd releases the lock

 private:
  Fd fd_;
};

/// Writes DATA to PATH atomically: a temporary file beside it, fsync,
/// rename, fsync of the directory. A reader sees the old or the new file.
void write_file_atomic(const std::string& path, std::string_view data, int mode = 0644);

/// fsync of the directory holding PATH, so a rename into it is durable.
void sync_parent_dir(const std::string& path);

}  // namespace ferry
