#include <archive.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fmt/format.h>
#include <fstream>
#include <sstream>

#include "ferry/core/error.hpp"
#include "ferry/core/fd.hpp"
#include "ferry/image/layer.hpp"
#include "layer_fixture.hpp"

namespace ferry::image {
namespace {

using namespace testing;

std::string slurp(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

struct Read {
  std::vector<LayerEntry> entries;
  std::vector<std::string> bodies;
  Compression comp;
};

Read read_all(const LayerSource& src) {
  Read out;
  LayerReader r(src);
  out.comp = r.compression();
  LayerEntry e;
  uint64_t holes = kSparseHoleLimit;
  while (r.next(&e)) {
    std::string body;
    if (e.type == EntryType::kFile)
      r.read_body([&](const void* d, size_t n) { body.append(static_cast<const char*>(d), n); }, holes);
    out.entries.push_back(e);
    out.bodies.push_back(body);
  }
  r.finish();
  return out;
}

const std::string kLong = std::string(60, 'a') + "/" + std::string(70, 'b') + "/" + std::string(40, 'c');

std::vector<E> sample() {
  E x = F("dir/x", "hello", 0640);
  x.uid = 1000;
  x.gid = 100;
  x.mtime = 1234567890;
  x.xattrs = {{"user.k", "v"}};
  return {D("dir/"), x, L("dir/sl", "/etc/hostname"), H("dir/hl", "dir/x"), F(kLong, "long"),
          N("dir/dev", 'c'), N("dir/fifo", 'p')};
}

class Compressions : public ::testing::TestWithParam<std::pair<std::string, Compression>> {};

TEST_P(Compressions, ReadsEntriesBodiesAndPaxFields) {
  Scratch s;
  auto [name, comp] = GetParam();
  write_layer(s.path("l.tar"), sample(), name);
  Read r = read_all(Src("layer l", s.path("l.tar")));
  EXPECT_EQ(r.comp, comp);
  ASSERT_EQ(r.entries.size(), 7u);
  EXPECT_EQ(r.entries[0].type, EntryType::kDir);
  const LayerEntry& x = r.entries[1];
  EXPECT_EQ(x.path, "dir/x");
  EXPECT_EQ(x.mode, 0640u);
  EXPECT_EQ(x.uid, 1000u);
  EXPECT_EQ(x.gid, 100u);
  EXPECT_EQ(x.mtime, 1234567890);
  EXPECT_EQ(x.size, 5u);
  EXPECT_EQ(r.bodies[1], "hello");
  ASSERT_EQ(x.xattrs.size(), 1u);
  EXPECT_EQ(x.xattrs[0], (std::pair<std::string, std::string>{"user.k", "v"}));
  EXPECT_EQ(r.entries[2].type, EntryType::kSymlink);
  EXPECT_EQ(r.entries[2].link_target, "/etc/hostname");
  EXPECT_EQ(r.entries[3].type, EntryType::kHardlink);
  EXPECT_EQ(r.entries[3].link_target, "dir/x");
  EXPECT_EQ(r.entries[4].path, kLong);  // > 100 bytes: a PAX path record
  EXPECT_EQ(r.bodies[4], "long");
  EXPECT_EQ(r.entries[5].type, EntryType::kCharDev);
  EXPECT_EQ(r.entries[6].type, EntryType::kFifo);
}

INSTANTIATE_TEST_SUITE_P(Layer, Compressions,
                         ::testing::Values(std::pair{std::string("none"), Compression::kNone},
                                           std::pair{std::string("gzip"), Compression::kGzip},
                                           std::pair{std::string("zstd"), Compression::kZstd}),
                         [](const auto& param_info) { return param_info.param.first; });

// The digest hooks see the blob as stored and the whole tar stream.
TEST(LayerReader, HooksSeeCompressedAndUncompressedBytes) {
  Scratch s;
  write_layer(s.path("l.tar"), sample(), "none");
  write_layer(s.path("l.tar.gz"), sample(), "gzip");
  std::string compressed, plain;
  LayerSource src = Src("layer gz", s.path("l.tar.gz"));
  src.on_compressed = [&](const void* d, size_t n) { compressed.append(static_cast<const char*>(d), n); };
  src.on_uncompressed = [&](const void* d, size_t n) { plain.append(static_cast<const char*>(d), n); };
  read_all(src);
  EXPECT_EQ(compressed, slurp(s.path("l.tar.gz")));
  EXPECT_EQ(plain, slurp(s.path("l.tar")));

  // Past the tar's end, 4 MiB more (a writer's block padding): chunks that
  // finish() takes after the parser stopped, hashed all the same.
  std::string padded = slurp(s.path("l.tar")) + std::string(4 << 20, '\0');
  std::ofstream(s.path("p.tar.gz"), std::ios::binary) << gzip_member(padded);
  std::string tail;
  LayerSource t = Src("layer padded", s.path("p.tar.gz"));
  t.on_uncompressed = [&](const void* d, size_t n) { tail.append(static_cast<const char*>(d), n); };
  read_all(t);
  EXPECT_EQ(tail.size(), padded.size());
  EXPECT_TRUE(tail == padded);

  std::string again;
  LayerSource p = Src("layer plain", s.path("l.tar"));
  p.on_uncompressed = [&](const void* d, size_t n) { again.append(static_cast<const char*>(d), n); };
  read_all(p);
  EXPECT_EQ(again, slurp(s.path("l.tar")));
}

TEST(LayerReader, ReadsFromADescriptor) {
  Scratch s;
  write_layer(s.path("l.tar.zst"), sample(), "zstd");
  int fd = ::open(s.path("l.tar.zst").c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  LayerSource src = Src("blob sha256:1234", "", fd);
  EXPECT_EQ(read_all(src).entries.size(), 7u);
  ::close(fd);
}

TEST(LayerReader, TruncatedGzipNamesTheLayer) {
  Scratch s;
  std::vector<E> big = {F("big", std::string(1 << 20, 'x') + std::to_string(rand()))};
  write_layer(s.path("l.tar.gz"), big, "gzip");
  std::string gz = slurp(s.path("l.tar.gz"));
  std::ofstream(s.path("cut.gz"), std::ios::binary) << gz.substr(0, gz.size() / 2);
  try {
    read_all(Src("layer sha256:cut", s.path("cut.gz")));
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).rfind("layer sha256:cut: ", 0), 0u) << e.what();
  }
}

TEST(LayerReader, XzIsRefusedByName) {
  Scratch s;
  archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  if (archive_write_add_filter_xz(a) != ARCHIVE_OK) GTEST_SKIP() << "libarchive without xz";
  archive_write_free(a);
  // Just the magic is enough to be told apart.
  std::ofstream(s.path("l.tar.xz"), std::ios::binary) << std::string("\xfd" "7zXZ\0junk", 9);
  try {
    read_all(Src("layer x", s.path("l.tar.xz")));
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "layer x: xz-compressed layers are not supported (OCI allows gzip and zstd)");
  }
}

// A sparse file as GNU tar writes it (old GNU and PAX 1.0 sparse formats):
// data at 0 and at 1 MiB, a hole between and one at the end. The holes come
// as zeros and are taken from the budget; a budget too small for a hole is
// an error naming the entry, raised before any zero of that hole is sent.
TEST(LayerReader, SparseHolesComeAsZerosFromTheBudget) {
  Scratch s;
  ::mkdir(s.path("src").c_str(), 0755);
  constexpr off_t kSize = 3 << 20, kSecond = 1 << 20;
  const std::string a(4096, 'A'), b(4096, 'B');
  {
    Fd f(::open(s.path("src/sparse").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    ASSERT_TRUE(f);
    ASSERT_EQ(::pwrite(f.get(), a.data(), a.size(), 0), 4096);
    ASSERT_EQ(::pwrite(f.get(), b.data(), b.size(), kSecond), 4096);
    ASSERT_EQ(::ftruncate(f.get(), kSize), 0);
  }
  std::string want(kSize, '\0');
  want.replace(0, a.size(), a);
  want.replace(kSecond, b.size(), b);
  const uint64_t holes = kSize - 2 * 4096;
  for (const char* format : {"gnu", "posix"}) {
    SCOPED_TRACE(format);
    const std::string tar = s.path(std::string(format) + ".tar");
    std::string cmd = fmt::format("tar --sparse --format={} -C {} -cf {} sparse", format, s.path("src"), tar);
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    ASSERT_LT(::lseek(Fd(::open(tar.c_str(), O_RDONLY | O_CLOEXEC)).get(), 0, SEEK_END), kSize) << "not sparse";
    {
      LayerReader r(Src("layer s", tar));
      LayerEntry e;
      ASSERT_TRUE(r.next(&e));
      EXPECT_EQ(e.size, static_cast<uint64_t>(kSize));
      std::string body;
      uint64_t left = holes + 7;
      EXPECT_EQ(r.read_body([&](const void* d, size_t n) { body.append(static_cast<const char*>(d), n); }, left),
                static_cast<uint64_t>(kSize));
      EXPECT_TRUE(body == want);
      EXPECT_EQ(left, 7U);
    }
    {
      LayerReader r(Src("layer s", tar));
      LayerEntry e;
      ASSERT_TRUE(r.next(&e));
      uint64_t sent = 0, left = kSecond - 4096 - 1;  // one byte short of the first hole
      try {
        r.read_body([&](const void*, size_t n) { sent += n; }, left);
        FAIL() << "no error";
      } catch (const Error& err) {
        EXPECT_STREQ(err.what(),
                     "layer s: sparse: sparse file whose holes pass ferry's limit of 2 TiB of holes per image");
      }
      EXPECT_EQ(sent, 4096U);
      EXPECT_EQ(left, static_cast<uint64_t>(kSecond - 4096 - 1));
    }
  }
}

TEST(LayerReader, GarbageIsAnError) {
  Scratch s;
  std::ofstream(s.path("junk"), std::ios::binary) << std::string(4096, 'j');
  EXPECT_THROW(read_all(Src("layer j", s.path("junk"))), Error);
}

TEST(LayerReader, MissingFileIsAnError) {
  EXPECT_THROW(LayerReader(Src("layer m", "/nonexistent/layer.tar")), Error);
}

}  // namespace
}  // namespace ferry::image
