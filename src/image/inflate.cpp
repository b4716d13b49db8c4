// Streaming decoders for compressed layers (inflate.hpp).
//
// gzip: a layer may hold several members back to back (RFC 1952 2.2; pigz
// and `cat a.gz b.gz` make them). After a member ends, bytes that start
// another member (1f 8b) are decoded as one; anything else ends the stream
// and is ignored, as gzip(1), igzip and libarchive do. Every member's CRC-32
// and length are checked.
#include "inflate.hpp"

#include <dlfcn.h>
#include <isa-l/igzip_lib.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <climits>
#include <string>

#include "ferry/core/error.hpp"
#include "ferry/core/log.hpp"

namespace ferry::image {

namespace {

// One call's sizes fit the libraries' 32-bit counters.
constexpr size_t kMaxStep = UINT_MAX;

// Whether the bytes at P (N of them) can start a gzip member.
bool gzip_magic(const unsigned char* p, size_t n) { return n >= 1 && p[0] == 0x1f && (n < 2 || p[1] == 0x8b); }

// --- ISA-L -------------------------------------------------------------------

// libisal is opened on first use, not linked: Debian ships it shared only,
// and every shared library costs each `ferry run` start (cmake/StaticDeps.cmake);
// only an import needs it. These two functions are all ferry uses.
struct IsalApi {
  void (*inflate_init)(inflate_state*) = nullptr;
  int (*inflate)(inflate_state*) = nullptr;
};

const IsalApi* isal() {
  static const IsalApi* api = []() -> const IsalApi* {
    void* lib = ::dlopen("libisal.so.2", RTLD_NOW | RTLD_LOCAL);
    if (lib == nullptr) {
      log::debug(std::string("gzip layers: zlib (cannot load ISA-L: ") + ::dlerror() + ")");
      return nullptr;
    }
    static IsalApi a;
    a.inflate_init = reinterpret_cast<void (*)(inflate_state*)>(::dlsym(lib, "isal_inflate_init"));
    a.inflate = reinterpret_cast<int (*)(inflate_state*)>(::dlsym(lib, "isal_inflate"));
    if (!a.inflate_init || !a.inflate) {
      log::debug("gzip layers: zlib (libisal.so.2 lacks isal_inflate)");
      return nullptr;
    }
    return &a;
  }();
  return api;
}

std::string isal_message(int r) {
  switch (r) {
    case ISAL_INVALID_BLOCK: return "gzip: invalid deflate block";
    case ISAL_INVALID_SYMBOL: return "gzip: invalid deflate symbol";
    case ISAL_INVALID_LOOKBACK: return "gzip: invalid distance too far back";
    case ISAL_INVALID_WRAPPER: return "gzip: invalid header";
    case ISAL_UNSUPPORTED_METHOD: return "gzip: unsupported compression method";
    case ISAL_INCORRECT_CHECKSUM: return "gzip: CRC or length mismatch (corrupt data)";
    default: return "gzip: decoder error " + std::to_string(r);
  }
}

// The member loop both gzip decoders share: when a member ends, bytes that
// start another one (1f 8b) are decoded as one, anything else ends the stream.
class GzipDecoder : public Decoder {
 public:
  Step decode(const unsigned char* in, size_t in_size, unsigned char* out, size_t out_size) final {
    Step s;
    while (!ended_ && s.produced < out_size) {
      size_t left = in_size - s.consumed;
      if (between_) {  // a member ended: another one follows, or the end
        if (left == 0) break;
        if (!gzip_magic(in + s.consumed, left)) {
          ended_ = true;
          break;
        }
        restart();
        between_ = false;
      }
      Piece p = inflate_some(in + s.consumed, std::min(left, kMaxStep), out + s.produced,
                             std::min(out_size - s.produced, kMaxStep));
      s.consumed += p.used;
      s.produced += p.made;
      if (p.member_end)
        between_ = true;  // the library checked the trailer (CRC-32, length)
      else if (p.stalled)
        break;  // needs more input
    }
    return s;
  }
  bool ended() const noexcept final { return ended_; }
  void finish() const final {
    if (!between_ && !ended_) throw Error("truncated gzip input");
  }

 protected:
  struct Piece {
    size_t used = 0, made = 0;
    bool member_end = false;  // the member's trailer was read and checked
    bool stalled = false;     // no progress: more input is needed
  };
  /// Starts decoding a new member.
  virtual void restart() = 0;
  /// One library call on at most 4 GiB of input and of output.
  virtual Piece inflate_some(const unsigned char* in, size_t in_n, unsigned char* out, size_t out_n) = 0;

 private:
  bool between_ = false;  // the last member is complete
  bool ended_ = false;
};

class IsalGzip final : public GzipDecoder {
 public:
  explicit IsalGzip(const IsalApi& api) : api_(api), st_(std::make_unique<inflate_state>()) { restart(); }
  const char* name() const noexcept override { return "gzip (ISA-L)"; }

 private:
  void restart() override {
    api_.inflate_init(st_.get());
    st_->crc_flag = ISAL_GZIP;  // parse the header, check CRC-32 and length
  }
  Piece inflate_some(const unsigned char* in, size_t in_n, unsigned char* out, size_t out_n) override {
    st_->next_in = const_cast<unsigned char*>(in);  // ISA-L does not write it
    st_->avail_in = static_cast<uint32_t>(in_n);
    st_->next_out = out;
    st_->avail_out = static_cast<uint32_t>(out_n);
    int r = api_.inflate(st_.get());
    if (r < 0) throw Error(isal_message(r));
    Piece p{in_n - st_->avail_in, out_n - st_->avail_out};
    p.member_end = st_->block_state == ISAL_BLOCK_FINISH;
    p.stalled = p.used == 0 && p.made == 0;
    return p;
  }

  const IsalApi& api_;
  std::unique_ptr<inflate_state> st_;  // ~40 KB
};

// --- zlib (fallback) ---------------------------------------------------------

class ZlibGzip final : public GzipDecoder {
 public:
  ZlibGzip() {
    if (inflateInit2(&z_, 16 + MAX_WBITS) != Z_OK) throw Error("gzip: cannot initialise zlib");
  }
  ~ZlibGzip() override { inflateEnd(&z_); }
  const char* name() const noexcept override { return "gzip (zlib)"; }

 private:
  void restart() override { inflateReset(&z_); }
  Piece inflate_some(const unsigned char* in, size_t in_n, unsigned char* out, size_t out_n) override {
    z_.next_in = const_cast<unsigned char*>(in);
    z_.avail_in = static_cast<uInt>(in_n);
    z_.next_out = out;
    z_.avail_out = static_cast<uInt>(out_n);
    int r = inflate(&z_, Z_NO_FLUSH);
    if (r != Z_OK && r != Z_STREAM_END && r != Z_BUF_ERROR)
      throw Error(std::string("gzip: ") + (z_.msg ? z_.msg : "corrupt data"));
    Piece p{in_n - z_.avail_in, out_n - z_.avail_out};
    p.member_end = r == Z_STREAM_END;
    p.stalled = r == Z_BUF_ERROR;  // no progress possible
    return p;
  }

  z_stream z_{};
};

// --- zstd --------------------------------------------------------------------

// Frames follow each other (ZSTD_decompressStream goes on into the next
// one); skippable frames are skipped. The window is libzstd's default
// limit (128 MiB, as the zstd tool without --long).
class Zstd final : public Decoder {
 public:
  Zstd() : d_(ZSTD_createDCtx()) {
    if (!d_) throw Error("zstd: cannot allocate a decompression context");
  }
  ~Zstd() override { ZSTD_freeDCtx(d_); }

  Step decode(const unsigned char* in, size_t in_size, unsigned char* out, size_t out_size) override {
    ZSTD_inBuffer i{in, in_size, 0};
    ZSTD_outBuffer o{out, out_size, 0};
    while (o.pos < o.size) {
      size_t in_pos = i.pos, out_pos = o.pos;
      size_t r = ZSTD_decompressStream(d_, &o, &i);
      if (ZSTD_isError(r)) throw Error(std::string("zstd: ") + ZSTD_getErrorName(r));
      if (i.pos == in_pos && o.pos == out_pos) break;  // needs more input (r then hints at the next frame)
      frame_done_ = r == 0;
    }
    return {i.pos, o.pos};
  }
  bool ended() const noexcept override { return false; }
  void finish() const override {
    if (!frame_done_) throw Error("truncated zstd input");
  }
  const char* name() const noexcept override { return "zstd"; }

 private:
  ZSTD_DCtx* d_;
  bool frame_done_ = false;
};

}  // namespace

std::unique_ptr<Decoder> make_decoder(Compression comp, bool use_isal) {
  if (comp == Compression::kZstd) return std::make_unique<Zstd>();
  if (const IsalApi* api = use_isal ? isal() : nullptr) return std::make_unique<IsalGzip>(*api);
  return std::make_unique<ZlibGzip>();
}

}  // namespace ferry::image
