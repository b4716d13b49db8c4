// `ferry images`: the user's stored images, as a table or JSON.
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <memory>
#include <nlohmann/json.hpp>

#include "command.hpp"
#include "ferry/core/error.hpp"
#include "ferry/core/fd.hpp"
#include "ferry/image/reference.hpp"
#include "ferry/image/image.hpp"
#include "ferry/image/store.hpp"
#include "image_info.hpp"

namespace ferry::cli {
namespace {

struct Row {
  std::string repository, tag, id, size, created, store;
  uint64_t bytes = 0;
  std::string created_raw;
};

Row make_row(const std::string& name, const std::string& id, const image::Store& store, const char* which) {
  image::Reference ref = image::parse_reference(name);
  Row r;
  image::Reference repo_only = ref;
  repo_only.tag.reset();
  repo_only.digest.reset();
  r.repository = repo_only.familiar();
  r.tag = ref.tag.value_or("<none>");
  r.id = id.substr(7, 12);
  ImageInfo info = image_info(store, id);
  r.bytes = info.size;
  r.size = human_size(info.size);
  r.created_raw = info.created;
  r.created = info.created.empty() ? "N/A" : info.created.substr(0, 10);
  r.store = which;
  return r;
}

int list(const std::string& format) {
  std::vector<Row> rows;
  auto stores = image::stores();
  for (size_t i = 0; i < stores.size(); ++i)
    for (const auto& [name, id] : stores[i].names()) rows.push_back(make_row(name, id, stores[i], i == 0 ? "user" : "site"));
  if (format == "json") {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& r : rows)
      out.push_back({{"Repository", r.repository}, {"Tag", r.tag}, {"Id", r.id}, {"Size", r.bytes},
                     {"Created", r.created_raw}, {"Store", r.store}});
    fmt::print("{}\n", out.dump(2));
    return 0;
  }
  if (format != "table") throw Error("--format: expected table or json, got '" + format + "'");
  fmt::print("{:<40} {:<16} {:<12}  {:>9}  {:<10}  {}\n", "REPOSITORY", "TAG", "IMAGE ID", "SIZE", "CREATED", "STORE");
  for (const auto& r : rows)
    fmt::print("{:<40} {:<16} {:<12}  {:>9}  {:<10}  {}\n", r.repository, r.tag, r.id, r.size, r.created, r.store);
  return 0;
}

}  // namespace

Handler setup_images(CLI::App& sub) {
  auto format = std::make_shared<std::string>("table");
  sub.add_option("--format", *format, "table or json");
  return [format] { return list(*format); };
}

}  // namespace ferry::cli
