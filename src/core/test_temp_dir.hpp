// For the unit tests only (target ferry_test_support): a fresh directory
// under /tmp for one test, removed with everything in it by the process
// that made it (a forked child that exits normally leaves it alone).
#pragma once

#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>

namespace ferry::test {

class TempDir {
 public:
  /// Makes /tmp/ferry-NAME-test.XXXXXX (mode 0700); throws if it cannot.
  explicit TempDir(std::string_view name) {
    std::string tmpl = "/tmp/ferry-" + std::string(name) + "-test.XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::system_error(errno, std::generic_category(), "mkdtemp");
    path_ = std::move(tmpl);
  }
  ~TempDir() {
    std::error_code ignored;
    if (::getpid() == owner_) std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }

 private:
  std::string path_;
  pid_t owner_ = ::getpid();
};

}  // namespace ferry::test
