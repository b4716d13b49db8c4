#include "accounts.hpp"

#include <sstream>

namespace ferry::runtime {
namespace {

std::string field(const std::string& line, int index) {
  std::stringstream ss(line);
  std::string f;
  for (int i = 0; i <= index; ++i)
    if (!std::getline(ss, f, ':')) return {};
  return f;
}

}  // namespace

std::string merge_account_file(const std::string& image_file, const std::vector<std::string>& ours) {
  std::string out;
  std::stringstream lines(image_file);
  for (std::string line; std::getline(lines, line);) {
    bool clash = false;
    for (const auto& o : ours)
      clash = clash || field(line, 0) == field(o, 0) || (!field(line, 2).empty() && field(line, 2) == field(o, 2));
    if (!clash && !line.empty()) out += line + "\n";
  }
  for (const auto& o : ours) out += o + "\n";
  return out;
}

}  // namespace ferry::runtime
