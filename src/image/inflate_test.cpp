#include "inflate.hpp"

#include <gtest/gtest.h>
#include <zlib.h>
#include <zstd.h>

#include <fstream>
#include <random>
#include <string>

#include "ferry/core/error.hpp"
#include "layer_fixture.hpp"

namespace ferry::image {
namespace {

using namespace testing;

// Text that compresses, with enough noise to need several deflate blocks.
std::string sample(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string s;
  while (s.size() < n) s += "line " + std::to_string(rng() % 1000) + " of the layer\n";
  s.resize(n);
  return s;
}

// With a checksum, as the zstd tool writes by default.
std::string zstd_frame(const std::string& data) {
  std::string out(ZSTD_compressBound(data.size()), '\0');
  ZSTD_CCtx* c = ZSTD_createCCtx();
  ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1);
  size_t n = ZSTD_compress2(c, out.data(), out.size(), data.data(), data.size());
  ZSTD_freeCCtx(c);
  EXPECT_FALSE(ZSTD_isError(n));
  out.resize(n);
  return out;
}

// Decodes all of IN, fed IN_STEP bytes at a time into OUT_STEP-byte
// buffers, as LayerReader does (finish() at the end of the input).
std::string decode(Decoder& d, const std::string& in, size_t in_step = 1 << 16, size_t out_step = 1 << 20) {
  std::string out;
  std::string buf(out_step, '\0');
  size_t pos = 0;
  for (;;) {
    size_t avail = std::min(in_step, in.size() - pos);
    auto* p = reinterpret_cast<const unsigned char*>(in.data() + pos);
    // Feed this slice until it is used up, as the reader does.
    for (;;) {
      Decoder::Step s = d.decode(p, avail, reinterpret_cast<unsigned char*>(buf.data()), buf.size());
      if (avail > 0 && s.consumed == 0 && s.produced == 0 && !d.ended()) throw std::logic_error("no progress");
      out.append(buf.data(), s.produced);
      p += s.consumed;
      avail -= s.consumed;
      pos += s.consumed;
      if (d.ended()) {
        d.finish();
        return out;
      }
      if (pos == in.size() && s.produced == 0) {
        d.finish();
        return out;
      }
      if (avail == 0 && s.produced < buf.size()) break;
    }
  }
}

struct Impl {
  std::string name;
  Compression comp;
  bool isal;
};

class Decoders : public ::testing::TestWithParam<Impl> {
 protected:
  std::unique_ptr<Decoder> make() const { return make_decoder(GetParam().comp, GetParam().isal); }
  std::string pack(const std::string& data) const {
    return GetParam().comp == Compression::kGzip ? gzip_member(data) : zstd_frame(data);
  }
  const char* kind() const { return GetParam().comp == Compression::kGzip ? "gzip" : "zstd"; }
};

TEST_P(Decoders, RoundTripsInAnyPieces) {
  std::string data = sample(3 << 20, 1);
  std::string packed = pack(data);
  EXPECT_EQ(decode(*make(), packed), data);
  EXPECT_EQ(decode(*make(), packed, 1, 4096), data);  // byte by byte: headers split across reads
  EXPECT_EQ(decode(*make(), packed, 65536, 7), data);
}

TEST_P(Decoders, ConcatenatedMembersAreOneStream) {
  std::string a = sample(200000, 2), b = sample(300000, 3);
  std::string packed = pack(a) + pack(b) + pack("");
  EXPECT_EQ(decode(*make(), packed), a + b);
  EXPECT_EQ(decode(*make(), packed, 3, 1000), a + b);
}

TEST_P(Decoders, TruncatedStreamIsAnError) {
  std::string packed = pack(sample(500000, 4));
  for (size_t cut : {size_t{5}, packed.size() / 2, packed.size() - 3, packed.size() - 1}) {
    try {
      decode(*make(), packed.substr(0, cut));
      ADD_FAILURE() << "no error at " << cut;
    } catch (const Error& e) {
      EXPECT_EQ(std::string(e.what()), std::string("truncated ") + kind() + " input") << "cut at " << cut;
    }
  }
}

TEST_P(Decoders, CorruptStreamIsAnError) {
  std::string packed = pack(sample(500000, 5));
  // In the compressed data, and in the trailer (gzip: CRC-32; zstd: checksum or end).
  for (size_t at : {packed.size() / 2, packed.size() - 6}) {
    std::string bad = packed;
    bad[at] = static_cast<char>(bad[at] ^ 0x55);
    try {
      decode(*make(), bad);
      ADD_FAILURE() << "no error with byte " << at << " changed";
    } catch (const Error& e) {
      EXPECT_EQ(std::string(e.what()).rfind(kind(), 0), 0u) << e.what();
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Inflate, Decoders,
                         ::testing::Values(Impl{"gzip_isal", Compression::kGzip, true},
                                           Impl{"gzip_zlib", Compression::kGzip, false},
                                           Impl{"zstd", Compression::kZstd, true}),
                         [](const auto& p) { return p.param.name; });

TEST(Inflate, IsalIsUsedWhenInstalled) {
  EXPECT_STREQ(make_decoder(Compression::kGzip)->name(), "gzip (ISA-L)");
  EXPECT_STREQ(make_decoder(Compression::kGzip, false)->name(), "gzip (zlib)");
}

// Bytes after the last gzip member that do not start another one end the
// stream and are ignored, as gzip(1) and libarchive do.
TEST(Inflate, TrailingBytesAfterGzipAreIgnored) {
  std::string data = sample(100000, 6);
  for (bool isal : {true, false}) {
    auto d = make_decoder(Compression::kGzip, isal);
    EXPECT_EQ(decode(*d, gzip_member(data) + std::string(1000, '\0')), data);
    EXPECT_TRUE(d->ended());
    // The member ends exactly where a read ends: the trailing bytes arrive
    // in a call of their own, which consumes nothing and ends the stream.
    std::string member = gzip_member(data);
    auto e = make_decoder(Compression::kGzip, isal);
    EXPECT_EQ(decode(*e, member + std::string(1000, '\0'), member.size()), data);
    EXPECT_TRUE(e->ended());
  }
}

// Through LayerReader: a damaged gzip layer fails with one message naming it.
TEST(Inflate, CorruptGzipLayerNamesTheLayer) {
  Scratch s;
  write_layer(s.path("l.tar.gz"), {F("a", sample(1 << 20, 7)), F("b", "x")}, "gzip");
  std::string gz;
  {
    std::ifstream f(s.path("l.tar.gz"), std::ios::binary);
    gz.assign(std::istreambuf_iterator<char>(f), {});
  }
  gz[gz.size() / 2] = static_cast<char>(gz[gz.size() / 2] ^ 0x55);
  std::ofstream(s.path("bad.gz"), std::ios::binary) << gz;
  try {
    LayerReader r(Src("layer sha256:bad", s.path("bad.gz")));
    LayerEntry e;
    uint64_t holes = kSparseHoleLimit;
    while (r.next(&e)) r.read_body([](const void*, size_t) {}, holes);
    r.finish();
    FAIL() << "no error";
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_EQ(m.rfind("layer sha256:bad: ", 0), 0u) << m;
    EXPECT_NE(m.find("gzip: "), std::string::npos) << m;
    EXPECT_EQ(m.find('\n'), std::string::npos) << m;
  }
}

}  // namespace
}  // namespace ferry::image
