#include "ferry/core/path.hpp"

#include <gtest/gtest.h>

namespace ferry {

TEST(Path, SplitDropsEmptyAndDot) {
  EXPECT_EQ(split_path("/a//b/./c/"), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_TRUE(split_path("/").empty());
}

TEST(Path, Normalize) {
  EXPECT_EQ(normalize_path("/a//b/./c/"), "/a/b/c");
  EXPECT_EQ(normalize_path("/"), "/");
  EXPECT_EQ(normalize_path("a/b/"), "a/b");
  EXPECT_EQ(normalize_path("/a/../b"), "/a/../b");
}

TEST(Path, DotDot) {
  EXPECT_TRUE(has_dotdot("/a/../b"));
  EXPECT_TRUE(has_dotdot(".."));
  EXPECT_FALSE(has_dotdot("/a/..b/c.."));
}

TEST(Path, Within) {
  EXPECT_TRUE(path_within("/a/b", "/a"));
  EXPECT_TRUE(path_within("/a", "/a"));
  EXPECT_FALSE(path_within("/ab", "/a"));
  EXPECT_TRUE(path_within("/x", "/"));
}

TEST(Path, Depth) {
  EXPECT_EQ(path_depth("/"), 0u);
  EXPECT_EQ(path_depth("/a/b"), 2u);
}

TEST(Path, SplitFieldsKeepsEmptyOnes) {
  EXPECT_EQ(split_fields("a::b:", ':'), (std::vector<std::string>{"a", "", "b", ""}));
  EXPECT_EQ(split_fields("a", ':'), (std::vector<std::string>{"a"}));
  EXPECT_EQ(split_fields(":", ':'), (std::vector<std::string>{"", ""}));
  EXPECT_TRUE(split_fields("", ':').empty());
}

TEST(Path, AbsoluteDirsDropsEmptyAndRelativeEntries) {
  EXPECT_EQ(absolute_dirs("a:/x::/y"), (std::vector<std::string>{"/x", "/y"}));
  EXPECT_EQ(absolute_dirs("/usr/bin:bin:."), (std::vector<std::string>{"/usr/bin"}));
  EXPECT_TRUE(absolute_dirs("").empty());
}

}  // namespace ferry
