// Streaming decoders for compressed layers (docs/design/convert.md, "Inflate"):
// gzip through Intel's ISA-L (igzip, 2-2.5x zlib's speed here), opened on
// first use, with zlib as the fallback when libisal.so.2 is not installed;
// zstd through libzstd. They decode straight into the caller's buffer.
#pragma once

#include <cstddef>
#include <memory>

#include "ferry/image/layer.hpp"

namespace ferry::image {

class Decoder {
 public:
  virtual ~Decoder() = default;

  struct Step {
    size_t consumed = 0;  // input bytes used
    size_t produced = 0;  // output bytes written
  };
  /// Decodes from IN into OUT until one of them is used up or the stream
  /// ends. Throws ferry::Error ("gzip: invalid deflate block") on damage.
  virtual Step decode(const unsigned char* in, size_t in_size, unsigned char* out, size_t out_size) = 0;
  /// True when the stream has ended: the last member or frame is complete
  /// and what follows, if anything, is not another one (it is ignored, as
  /// gzip and libarchive ignore trailing bytes; the digest still covers them).
  virtual bool ended() const noexcept = 0;
  /// Call at the end of the input: throws if it stops inside a member or
  /// frame ("truncated gzip input").
  virtual void finish() const = 0;
  /// Names the implementation ("gzip (ISA-L)"), for --debug.
  virtual const char* name() const noexcept = 0;
};

/// A decoder for COMP (kGzip or kZstd). For gzip, ISA-L when libisal.so.2
/// can be loaded and `isal` is true (tests turn it off), else zlib.
std::unique_ptr<Decoder> make_decoder(Compression comp, bool isal = true);

}  // namespace ferry::image
