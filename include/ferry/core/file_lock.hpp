/// A flock(2) on a lock file, held until destroyed (STYLE.md 5): exclusive
/// (one writer) or shared (any number of holders, no exclusive one).
/// Waits; says once on stderr when the wait is long, so a user knows why.
#pragma once

#include <optional>
#include <string>

#include "ferry/core/fd.hpp"

namespace ferry {

class FileLock {
 public:
  enum class Mode { kExclusive, kShared };

  /// Creates PATH if needed (mode 0600) and takes the lock, waiting for
  /// holders whose lock conflicts with MODE.
  explicit FileLock(const std::string& path, Mode mode = Mode::kExclusive);
  /// The exclusive lock on PATH if nobody holds it in either mode, else
  /// none, at once. Throws only when PATH cannot be opened or locked.
  static std::optional<FileLock> try_exclusive(const std::string& path);

  FileLock(FileLock&&) = default;
  FileLock& operator=(FileLock&&) = default;
  ~FileLock() = default;  // closing the fd releases the lock

 private:
  explicit FileLock(Fd fd) : fd_(std::move(fd)) {}
  Fd fd_;
};

/// Writes DATA to PATH atomically: a temporary file beside it, fsync,
/// rename, fsync of the directory. A reader sees the old or the new file.
void write_file_atomic(const std::string& path, std::string_view data, int mode = 0644);

/// fsync of the directory holding PATH, so a rename into it is durable.
void sync_parent_dir(const std::string& path);

}  // namespace ferry
