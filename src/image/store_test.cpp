#include "ferry/image/store.hpp"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "ferry/core/error.hpp"
#include "ferry/core/fd.hpp"
#include "test_temp_dir.hpp"

namespace ferry::image {
namespace fs = std::filesystem;

class StoreTest : public ::testing::Test {
 protected:
  test::TempDir tmp_{"store"};
  std::string dir_ = tmp_.path();

  // A fake converted image: what an import leaves in temp_path().
  std::string staged(Store& s, const std::string& body) {
    std::string p = s.temp_path();
    std::ofstream(p) << body;
    return p;
  }
};

TEST_F(StoreTest, AddLookupAndContentAddressing) {
  Store s(dir_ + "/store");
  auto a = s.add(staged(s, "image-a"), R"({"config":{}})", {parse_reference("a")});
  auto b = s.add(staged(s, "image-a-again"), R"({"config":{}})", {parse_reference("b:1")});
  EXPECT_EQ(a.id, b.id);  // the same config is one image
  EXPECT_EQ(read_file(a.sqfs), "image-a");
  EXPECT_EQ(read_file(a.config), R"({"config":{}})");
  EXPECT_EQ(s.lookup(parse_reference("docker.io/library/a:latest"))->id, a.id);
  EXPECT_EQ(s.lookup(parse_reference("b:1"))->sqfs, a.sqfs);
  EXPECT_FALSE(s.lookup(parse_reference("c")));
  EXPECT_EQ(s.lookup_id(a.id.substr(7, 12))->id, a.id);
  EXPECT_EQ(fs::directory_iterator(dir_ + "/store/tmp") == fs::directory_iterator(), true);
}

// A blob published for a manifest not written yet (a pull or import under
// way, holding a claim) survives a remove(); once nobody claims, the next
// remove() collects what no manifest lists, and keeps what one does.
TEST_F(StoreTest, RemoveCollectsUnlistedBlobsOnlyWhenUnclaimed) {
  Store s(dir_ + "/store");
  auto blob = [&](const std::string& body) {
    BlobWriter w(s);
    w.write(body.data(), body.size());
    w.keep();
    return w.digest();
  };
  std::string listed = blob("listed layer");
  std::string manifest = R"({"layers":[{"digest":")" + listed + R"("}]})";
  s.add(staged(s, "x"), R"({"a":1})", {parse_reference("keep")}, manifest);
  s.add(staged(s, "y"), R"({"b":2})", {parse_reference("gone1")});
  s.add(staged(s, "z"), R"({"c":3})", {parse_reference("gone2")});
  std::string pending;
  {
    FileLock claim = s.claim_blobs();
    pending = blob("a layer on its way");
    EXPECT_TRUE(s.remove(parse_reference("gone1")));
    EXPECT_TRUE(fs::exists(s.blob_path(pending)));
  }
  EXPECT_TRUE(s.remove(parse_reference("gone2")));
  EXPECT_FALSE(fs::exists(s.blob_path(pending)));
  EXPECT_TRUE(fs::exists(s.blob_path(listed)));
}

TEST_F(StoreTest, TagAndRemoveKeepTheFileWhileNamed) {
  Store s(dir_ + "/store");
  auto a = s.add(staged(s, "x"), "{}", {parse_reference("a")});
  s.tag(parse_reference("a"), parse_reference("reg.example.org/team/a:v1"));
  EXPECT_EQ(s.names().size(), 2u);
  EXPECT_FALSE(s.remove(parse_reference("a")));
  EXPECT_TRUE(fs::exists(a.sqfs));
  EXPECT_EQ(s.remove(parse_reference("reg.example.org/team/a:v1")), a.id);
  EXPECT_FALSE(fs::exists(a.sqfs));
  EXPECT_FALSE(fs::exists(a.config));
  EXPECT_TRUE(s.names().empty());
}

TEST_F(StoreTest, MissingNamesAreOneLineErrors) {
  Store s(dir_ + "/store");
  try {
    s.remove(parse_reference("nope"));
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "nope:latest: no such image in the store");
  }
  EXPECT_THROW(s.tag(parse_reference("nope"), parse_reference("x")), Error);
}

TEST_F(StoreTest, MalformedIndexIsReportedNotOverwritten) {
  Store s(dir_ + "/store");
  s.add(staged(s, "x"), "{}", {parse_reference("a")});
  std::ofstream(dir_ + "/store/repositories.json") << "{broken";
  EXPECT_THROW(s.lookup(parse_reference("a")), Error);
  EXPECT_THROW(s.tag(parse_reference("a"), parse_reference("b")), Error);
  EXPECT_EQ(read_file(dir_ + "/store/repositories.json"), "{broken");
}

TEST_F(StoreTest, LeftoversOfDeadImportsAreCleaned) {
  Store s(dir_ + "/store");
  std::string p = s.temp_path();
  // A file named after a pid that is surely gone, and one of ours (alive).
  pid_t child = fork();
  if (child == 0) _exit(0);
  waitpid(child, nullptr, 0);
  std::string dead = dir_ + "/store/tmp/" + std::to_string(child) + ".deadbeef";
  std::ofstream(dead) << "half an image";
  std::ofstream(p) << "ours";
  s.temp_path();
  EXPECT_FALSE(fs::exists(dead));
  EXPECT_TRUE(fs::exists(p));
}

TEST_F(StoreTest, ConcurrentAddsOfOneImageStoreItOnce) {
  std::string root = dir_ + "/store";
  std::vector<pid_t> kids;
  for (int i = 0; i < 8; ++i) {
    pid_t pid = fork();
    if (pid == 0) {
      try {
        Store s(root);
        std::string p = s.temp_path();
        std::ofstream(p) << "same";
        s.add(p, R"({"same":1})", {parse_reference("n" + std::to_string(i))});
        _exit(0);
      } catch (...) {
        _exit(1);
      }
    }
    kids.push_back(pid);
  }
  for (pid_t k : kids) {
    int st = 0;
    waitpid(k, &st, 0);
    EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  }
  Store s(root);
  EXPECT_EQ(s.names().size(), 8u);
  int files = 0;
  for (const auto& e : fs::directory_iterator(root + "/images"))
    files += e.path().extension() == ".sqfs";
  EXPECT_EQ(files, 1);
  EXPECT_TRUE(fs::is_empty(root + "/tmp"));
}

TEST(StoreRoot, EnvironmentOrder) {
  setenv("FERRY_STORE", "/x/store", 1);
  EXPECT_EQ(Store::user_root(), "/x/store");
  unsetenv("FERRY_STORE");
  setenv("XDG_DATA_HOME", "/x/data", 1);
  EXPECT_EQ(Store::user_root(), "/x/data/ferry");
  unsetenv("XDG_DATA_HOME");
  setenv("HOME", "/x/home", 1);
  EXPECT_EQ(Store::user_root(), "/x/home/.local/share/ferry");
}

}  // namespace ferry::image
