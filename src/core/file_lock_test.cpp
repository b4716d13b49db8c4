#include "ferry/core/file_lock.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "test_temp_dir.hpp"

namespace ferry {
namespace {

// A lock file in a fresh directory, removed with it.
class FileLockTest : public ::testing::Test {
 protected:
  test::TempDir tmp_{"lock"};
  std::string dir_ = tmp_.path(), path_ = dir_ + "/lock";
};

// flock(2) locks belong to open file descriptions, so two FileLocks of one
// process conflict as two processes' would.
TEST_F(FileLockTest, SharedHoldersKeepAnExclusiveOneOut) {
  {
    FileLock a(path_, FileLock::Mode::kShared);
    FileLock b(path_, FileLock::Mode::kShared);  // would wait forever if not shared
    EXPECT_FALSE(FileLock::try_exclusive(path_));
  }
  auto mine = FileLock::try_exclusive(path_);
  ASSERT_TRUE(mine);
  EXPECT_FALSE(FileLock::try_exclusive(path_));
}

TEST_F(FileLockTest, MadeForItsOwnerOnly) {
  FileLock lock(path_);
  struct stat st {};
  ASSERT_EQ(::stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_FALSE(FileLock::try_exclusive(path_));
}

TEST_F(FileLockTest, TryThrowsWhenThereIsNoFile) {
  EXPECT_THROW(FileLock::try_exclusive(dir_ + "/no/such/dir/lock"), std::exception);
}

}  // namespace
}  // namespace ferry
