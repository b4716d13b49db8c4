// The tar index behind docker-archive: and oci-archive: (source_files.cpp):
// members found in place, long names, links followed, bad archives refused.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include "ferry/core/error.hpp"
#include "ferry/image/source.hpp"
#include "layer_fixture.hpp"

namespace ferry::image {
namespace {

using namespace testing;

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

const std::string kLong = "blobs/sha256/" + std::string(64, 'a') + "/" + std::string(90, 'b');

void write_archive(const std::string& path, const std::string& comp = "none") {
  write_layer(path,
              {D("blobs/"), F("./manifest.json", "[]"), F(kLong, "long member"), F("blobs/x", "layer bytes"),
               L("id/layer.tar", "../blobs/x"), H("hard", "blobs/x"), L("escape", "../../etc/passwd")},
              comp);
}

TEST(SourceFiles, FindsMembersInPlace) {
  Scratch s;
  write_archive(s.path("a.tar"));
  auto files = open_tar(s.path("a.tar"));
  EXPECT_EQ(files->read("manifest.json", "manifest.json"), "[]");
  EXPECT_EQ(files->read(kLong, "long"), "long member");
  EXPECT_EQ(files->read("id/layer.tar", "symlink"), "layer bytes");
  EXPECT_EQ(files->read("hard", "hard link"), "layer bytes");
  auto w = files->find("blobs/x");
  ASSERT_TRUE(w);
  EXPECT_EQ(w->length, 11u);
  EXPECT_EQ(w->offset % 512, 0u);
  EXPECT_FALSE(files->find("escape"));  // never outside the archive
  EXPECT_FALSE(files->find("blobs"));   // a directory is not a blob
  EXPECT_EQ(error_of([&] { files->read("nope.json", "config sha256:1"); }), "config sha256:1: missing (nope.json)");
}

TEST(SourceFiles, RefusesCompressedTruncatedAndForeignFiles) {
  Scratch s;
  write_archive(s.path("a.tar.gz"), "gzip");
  EXPECT_NE(error_of([&] { open_tar(s.path("a.tar.gz")); }).find("a compressed archive"), std::string::npos);
  write_archive(s.path("a.tar"));
  ASSERT_EQ(::truncate(s.path("a.tar").c_str(), 1536), 0);
  EXPECT_NE(error_of([&] { open_tar(s.path("a.tar")); }).find("truncated archive"), std::string::npos);
  std::ofstream(s.path("junk")) << std::string(1024, 'j');
  EXPECT_EQ(error_of([&] { open_tar(s.path("junk")); }), s.path("junk") + ": not a tar archive");
}

TEST(SourceFiles, DirectoryStaysInside) {
  Scratch s;
  std::ofstream(s.path("index.json")) << "{}";
  auto files = open_directory(s.dir());
  EXPECT_EQ(files->read("index.json", "index.json"), "{}");
  EXPECT_FALSE(files->find("../" + s.dir().substr(s.dir().rfind('/') + 1) + "/index.json"));
}

}  // namespace
}  // namespace ferry::image
