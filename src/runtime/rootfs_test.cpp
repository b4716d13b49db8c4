#include "rootfs.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "ferry/core/error.hpp"
#include "test_temp_dir.hpp"

namespace ferry::runtime {
namespace {

// A root with a host directory beside it, so that a resolution done on the
// host's side would land somewhere a test can see.
class RootfsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* d : {"/root", "/root/etc", "/root/usr", "/root/usr/lib", "/host"})
      ASSERT_EQ(::mkdir((base_ + d).c_str(), 0755), 0);
    std::ofstream(root_ + "/etc/passwd") << "root:x:0:0::/:/bin/sh\n";
    std::ofstream(base_ + "/host/passwd") << "host\n";
    ASSERT_EQ(::symlink("usr/lib", (root_ + "/lib").c_str()), 0);         // relative: the fast path
    ASSERT_EQ(::symlink("/usr/lib", (root_ + "/abs").c_str()), 0);        // absolute: the walk
    ASSERT_EQ(::symlink("../../host", (root_ + "/etc/out").c_str()), 0);  // climbs out: refused
    ASSERT_EQ(::mkfifo((root_ + "/etc/fifo").c_str(), 0644), 0);
  }
  ino_t inode(const std::string& path) {
    struct stat st {};
    EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
    return st.st_ino;
  }
  static ino_t inode(int fd) {
    struct stat st {};
    EXPECT_EQ(::fstat(fd, &st), 0);
    return st.st_ino;
  }

  test::TempDir tmp_{"rootfs"};
  std::string base_ = tmp_.path(), root_ = base_ + "/root";
};

TEST_F(RootfsTest, RelativeAndAbsoluteSymlinksResolveInsideTheRoot) {
  Rootfs fs(root_);
  auto rel = fs.open("/lib");
  auto abs = fs.open("/abs");
  ASSERT_TRUE(rel && abs);
  EXPECT_EQ(inode(rel->get()), inode(root_ + "/usr/lib"));
  EXPECT_EQ(inode(abs->get()), inode(root_ + "/usr/lib"));
  auto self = fs.open("/");
  ASSERT_TRUE(self);
  EXPECT_EQ(inode(self->get()), inode(root_));
}

// `/home -> x/../../../host` with x missing: the walk cannot resolve the
// `..` (x is not there), and the layer's points are made by path, where
// `LAYER/x/../../..` would climb out of the layer. Refused, nothing made.
TEST_F(RootfsTest, AMissingDirectoryFollowedByDotDotIsRefusedAndNothingIsMade) {
  ASSERT_EQ(::symlink("x/../../../host/made", (root_ + "/home").c_str()), 0);
  Rootfs fs(root_);
  EXPECT_THROW(fs.missing("/home/alice", true), Error);
  std::string layer = base_ + "/layer";
  ASSERT_EQ(::mkdir(layer.c_str(), 0755), 0);
  MissingPath bad{{}, {}, {"x", "..", "..", "host", "made"}, true};
  EXPECT_THROW(make_mount_points(layer, {bad}), Error);
  EXPECT_FALSE(std::filesystem::exists(base_ + "/host/made"));
  EXPECT_FALSE(std::filesystem::exists(layer + "/x"));
}

TEST_F(RootfsTest, ASymlinkClimbingOutIsRefusedNotFollowed) {
  Rootfs fs(root_);
  EXPECT_THROW(fs.open("/etc/out/passwd"), Error);
  EXPECT_THROW(fs.missing("/etc/out/x", true), Error);
  struct stat st {};
  EXPECT_THROW(fs.open_file("/etc/out/passwd", st), Error);
}

TEST_F(RootfsTest, MissingNamesTheRealDirectoriesAndWhatIsLeft) {
  Rootfs fs(root_);
  EXPECT_FALSE(fs.missing("/etc", true));
  auto m = fs.missing("/lib/x/y", true);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->existing, (std::vector<std::string>{"usr", "lib"}));
  EXPECT_EQ(m->rest, (std::vector<std::string>{"x", "y"}));
  EXPECT_THROW(fs.missing("/etc/passwd", true), Error);  // a file where a directory is wanted
}

TEST_F(RootfsTest, OpenFileReadsRegularFilesOnly) {
  Rootfs fs(root_);
  struct stat st {};
  auto f = fs.open_file("/etc/passwd", st);
  ASSERT_TRUE(f);
  EXPECT_EQ(st.st_size, 22);
  EXPECT_FALSE(fs.open_file("/etc/fifo", st));  // O_NONBLOCK: no hang
  EXPECT_FALSE(fs.open_file("/etc", st));
  EXPECT_FALSE(fs.open_file("/etc/none", st));
}

TEST_F(RootfsTest, EnsureMakesWhatIsMissingInsideTheRoot) {
  Rootfs fs(root_);
  auto fd = fs.ensure("/abs/made/here", true);
  EXPECT_EQ(inode(fd.get()), inode(root_ + "/usr/lib/made/here"));
  EXPECT_NE(::access("/usr/lib/made", F_OK), 0);  // not where the host's /usr/lib is
}

}  // namespace
}  // namespace ferry::runtime
