#include "ferry/core/error.hpp"

#include <gtest/gtest.h>

#include <cerrno>

namespace ferry {

TEST(Error, SyscallMessageNamesOpObjectAndReason) {
  Error e(ENOENT, "open", "/x/y");
  EXPECT_STREQ(e.what(), "open /x/y: No such file or directory");
  EXPECT_EQ(e.err(), ENOENT);
  EXPECT_EQ(e.exit_code(), kExitFailure);
}

TEST(Error, ContextIsPrependedOutermostFirst) {
  Error e(EACCES, "mount", "/a");
  e.context("volume /a:/b");
  e.context("img.sqfs");
  EXPECT_STREQ(e.what(), "img.sqfs: volume /a:/b: mount /a: Permission denied");
}

TEST(Error, PlainMessageKeepsExitCode) {
  Error e("ls: command not found", kExitNotFound);
  EXPECT_STREQ(e.what(), "ls: command not found");
  EXPECT_EQ(e.exit_code(), 127);
}

}  // namespace ferry
