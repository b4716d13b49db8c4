/// SHA-256, streaming, as OCI digests use it ("sha256:<hex>"). Backed by
/// Nettle (Debian nettle-dev).
#pragma once

#include <memory>
#include <string>
#include <string_view>

namespace ferry {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(Sha256&&) noexcept;
  Sha256& operator=(Sha256&&) noexcept;
  void update(const void* data, size_t size);
  void update(std::string_view s) { update(s.data(), s.size()); }
  /// "sha256:<64 lowercase hex>"; the object may not be updated afterwards.
  std::string digest();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// The OCI digest of a byte string.
std::string sha256_digest(std::string_view data);

}  // namespace ferry
