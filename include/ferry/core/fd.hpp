/// Move-only owners of kernel resources (STYLE.md 5): Fd closes its
/// descriptor, TempDir removes its directory tree, unless release()d.
#pragma once

#include <string>
#include <utility>

namespace ferry {

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) noexcept : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(o.release()) {}
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) reset(o.release());
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }

  int get() const noexcept { return fd_; }
  explicit operator bool() const noexcept { return fd_ >= 0; }
  int release() noexcept { return std::exchange(fd_, -1); }
  void reset(int fd = -1) noexcept;

 private:
  int fd_ = -1;
};

/// open(2) that throws "open PATH: reason" on failure.
Fd open_or_throw(const std::string& path, int flags, int mode = 0);

/// "/proc/self/fd/N": the magic link naming exactly the object behind fd,
/// which mount(2) accepts as source or target without re-resolving a path.
std::string fd_path(int fd);

/// Reads a whole (small) file into a string; throws on failure.
std::string read_file(const std::string& path);

/// Writes `data` to an existing file (e.g. /proc/self/uid_map); throws.
void write_file(const std::string& path, std::string_view data);

}  // namespace ferry
