#include "image_info.hpp"

#include <sys/stat.h>
#include <unistd.h>


#include <fmt/format.h>

#include "ferry/core/error.hpp"
#include "ferry/core/fd.hpp"
#include "ferry/image/store.hpp"

namespace ferry::cli {

ImageInfo image_info(const image::Store& store, const std::string& id) {
  // The id comes from the index the caller read: no second lookup.
  image::StoredImage e = store.entry(id);
  ImageInfo info;
  info.sqfs = e.sqfs;
  struct stat st {};
  if (::stat(e.sqfs.c_str(), &st) == 0) info.size = static_cast<uint64_t>(st.st_size);
  info.config = nlohmann::json::parse(read_file(e.config), nullptr, false);
  if (info.config.is_discarded()) throw Error(e.config + ": malformed JSON");
  if (info.config.is_object() && info.config.contains("created") && info.config["created"].is_string())
    info.created = info.config["created"].get<std::string>();
  return info;
}

std::string human_size(uint64_t bytes) {
  const char* units[] = {"B", "kB", "MB", "GB", "TB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1000 && u < 4) {
    v /= 1000;
    ++u;
  }
  return u == 0 ? fmt::format("{}B", bytes) : fmt::format("{:.3g}{}", v, units[u]);
}

}  // namespace ferry::cli
