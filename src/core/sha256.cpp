#include "ferry/core/sha256.hpp"

#include <nettle/sha2.h>

// nettle defines sha256_digest etc. as macros for its nettle_* names; ours
// would be renamed too.
#undef sha256_init
#undef sha256_update
#undef sha256_digest

namespace ferry {

// Nettle (Debian nettle-dev), not OpenSSL: linked statically, nettle's SHA-256
// is a few small objects, while libcrypto's EVP layer brings ~18,000 pointer
// relocations that every ferry start would pay for in page faults
// (cmake/StaticDeps.cmake). Nettle's x86-64 build uses the SHA extensions
// when the CPU has them.
struct Sha256::Impl {
  struct sha256_ctx ctx;
};

Sha256::Sha256() : impl_(std::make_unique<Impl>()) { nettle_sha256_init(&impl_->ctx); }
Sha256::~Sha256() = default;
Sha256::Sha256(Sha256&&) noexcept = default;
Sha256& Sha256::operator=(Sha256&&) noexcept = default;

void Sha256::update(const void* data, size_t size) {
  nettle_sha256_update(&impl_->ctx, size, static_cast<const uint8_t*>(data));
}

std::string Sha256::digest() {
  uint8_t md[SHA256_DIGEST_SIZE];
  nettle_sha256_digest(&impl_->ctx, sizeof md, md);
  static const char kHex[] = "0123456789abcdef";
  std::string out = "sha256:";
  for (uint8_t b : md) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

std::string sha256_digest(std::string_view data) {
  Sha256 h;
  h.update(data);
  return h.digest();
}

}  // namespace ferry
