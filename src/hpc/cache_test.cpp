#include "ferry/hpc/cache.hpp"

#include <gtest/gtest.h>

#include "ferry/core/config.hpp"
#include "ferry/core/error.hpp"

namespace ferry::hpc {
namespace {

std::string error_of(const std::string& spec, bool scratch) {
  try {
    if (scratch) parse_scratch(spec);
    else parse_cache_volume(spec);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(CacheVolume, ShifterSpelling) {
  auto c = parse_cache_volume("/ignored:/cache/:perNodeCache=size=100G");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->destination, "/cache");
  EXPECT_EQ(c->size, 100ull << 30);
  // Whatever SRC is, as in Shifter.
  EXPECT_TRUE(parse_cache_volume("x:/c:perNodeCache=size=1M,bs=1M,method=loop,fstype=xfs"));
}

TEST(CacheVolume, OrdinaryVolumesAreNotCaches) {
  EXPECT_FALSE(parse_cache_volume("/a:/b"));
  EXPECT_FALSE(parse_cache_volume("/a:/b:ro"));
  EXPECT_FALSE(parse_cache_volume("/a:/b:ro:x"));
}

TEST(CacheVolume, Malformed) {
  EXPECT_EQ(error_of("/x:/c:perNodeCache=", false), "volume '/x:/c:perNodeCache=': perNodeCache needs size=SIZE");
  EXPECT_EQ(error_of("/x:/c:perNodeCache=size=1G,x=1", false),
            "volume '/x:/c:perNodeCache=size=1G,x=1': unknown perNodeCache option 'x' (expected size, bs, method or fstype)");
  EXPECT_EQ(error_of("perNodeCache=size=1G", false),
            "volume 'perNodeCache=size=1G': expected SRC:DST:perNodeCache=size=SIZE");
  EXPECT_EQ(error_of("/x:/../c:perNodeCache=size=1G", false),
            "volume '/x:/../c:perNodeCache=size=1G': destination must be an absolute path without '..'");
}

TEST(Scratch, Parses) {
  auto c = parse_scratch("/scratch:size=2G");
  EXPECT_EQ(c.destination, "/scratch");
  EXPECT_EQ(c.size, 2ull << 30);
  EXPECT_EQ(error_of("/s", true), "scratch '/s': expected DST:size=SIZE");
  EXPECT_EQ(error_of("/s:1G", true), "scratch '/s:1G': expected DST:size=SIZE");
  EXPECT_EQ(error_of("s:size=1G", true), "scratch 's:size=1G': destination must be an absolute path without '..'");
}

TEST(CacheDir, ConfigOverEnvironment) {
  Config c;
  c.cache_dir = "/local/ssd";
  EXPECT_EQ(cache_dir(c), "/local/ssd");
  c.cache_dir.reset();
  setenv("TMPDIR", "/var/tmp/", 1);
  EXPECT_EQ(cache_dir(c), "/var/tmp");
  setenv("TMPDIR", "relative", 1);
  EXPECT_EQ(cache_dir(c), "/tmp");
  unsetenv("TMPDIR");
  EXPECT_EQ(cache_dir(c), "/tmp");
}

}  // namespace
}  // namespace ferry::hpc
