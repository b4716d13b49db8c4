/// What the store-listing commands show of one stored image, read from the
/// SquashFS file's size and the config beside it.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace ferry::image {
class Store;
}

namespace ferry::cli {

struct ImageInfo {
  uint64_t size = 0;
  std::string created;     ///< the config's "created", RFC 3339, or empty
  nlohmann::json config;  ///< the whole config document
  std::string sqfs;
};

ImageInfo image_info(const image::Store& store, const std::string& id);

/// "1.2MB", as Docker prints sizes (powers of 1000).
std::string human_size(uint64_t bytes);

}  // namespace ferry::cli
