#include "ferry/hpc/size.hpp"

#include <cctype>
#include <fmt/format.h>

#include "ferry/core/error.hpp"

namespace ferry::hpc {

uint64_t parse_size(const std::string& spec) {
  auto bad = [&] { return Error(fmt::format("size '{}': expected a number with an optional K, M, G or T suffix", spec)); };
  size_t i = 0;
  uint64_t n = 0;
  for (; i < spec.size() && std::isdigit(static_cast<unsigned char>(spec[i])); ++i) {
    if (n > (UINT64_MAX - 9) / 10) throw bad();
    n = n * 10 + static_cast<uint64_t>(spec[i] - '0');
  }
  if (i == 0) throw bad();
  std::string unit = spec.substr(i);
  for (auto& c : unit) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (unit.size() > 1 && (unit.substr(1) == "B" || unit.substr(1) == "IB")) unit.resize(1);
  int shift = 0;
  if (unit.empty() || unit == "B") shift = 0;
  else if (unit == "K") shift = 10;
  else if (unit == "M") shift = 20;
  else if (unit == "G") shift = 30;
  else if (unit == "T") shift = 40;
  else throw bad();
  if (n == 0) throw Error(fmt::format("size '{}': must be more than 0", spec));
  if (shift > 0 && n > (UINT64_MAX >> shift)) throw Error(fmt::format("size '{}': too large", spec));
  return n << shift;
}

}  // namespace ferry::hpc
