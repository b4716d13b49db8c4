#include "ferry/core/log.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <string>

#include "ferry/core/fd.hpp"
#include "test_temp_dir.hpp"

namespace ferry {
namespace {

// What log::error writes on stderr for MSG.
std::string logged(const std::string& msg) {
  test::TempDir tmp("log");
  std::string path = tmp.path() + "/stderr";
  Fd file(::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
  int saved = ::dup(STDERR_FILENO);
  ::dup2(file.get(), STDERR_FILENO);
  log::error(msg);
  ::dup2(saved, STDERR_FILENO);
  ::close(saved);
  return read_file(path);
}

// Messages carry what others wrote (a registry's error text): a terminal
// must not take any of it for an escape sequence or a line of its own.
TEST(Log, ControlCharactersAreShownNotSent) {
  EXPECT_EQ(logged("plain, with\ttab and caf\xc3\xa9"), "ferry: plain, with\ttab and caf\xc3\xa9\n");
  EXPECT_EQ(logged("red \x1b[31mtext\nferry: fake line\x7f"),
            "ferry: red \\x1b[31mtext\\x0aferry: fake line\\x7f\n");
  EXPECT_EQ(logged("csi \xc2\x9b" "2J"), "ferry: csi \\xc2\\x9b2J\n");  // C1, as UTF-8 encodes it
}

}  // namespace
}  // namespace ferry
