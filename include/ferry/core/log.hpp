/// Diagnostics on stderr, one line each, prefixed "ferry: ". Debug lines
/// (and scoped timers, STYLE.md 4) print only when --debug / FERRY_DEBUG=1.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

namespace ferry::log {

void set_debug(bool on) noexcept;
bool debug_enabled() noexcept;

void warn(std::string_view msg);
void error(std::string_view msg);
void debug(std::string_view msg);

/// Prints "ferry: [time] NAME: N.NNN ms" at scope exit when debugging.
class Timer {
 public:
  explicit Timer(const char* name) noexcept;
  ~Timer();
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

 private:
  const char* name_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace ferry::log
