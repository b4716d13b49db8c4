#include "ferry/core/log.hpp"

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <string>

#include <fmt/format.h>

namespace ferry::log {
namespace {

std::atomic<int> g_debug{-1};  // -1: not decided yet, read FERRY_DEBUG

void emit(std::string_view prefix, std::string_view msg) {
  // One write(2) per line so lines from several processes do not interleave.
  std::string line = fmt::format("ferry: {}{}\n", prefix, msg);
  ssize_t ignored = ::write(STDERR_FILENO, line.data(), line.size());
  (void)ignored;
}

}  // namespace

void set_debug(bool on) noexcept { g_debug = on ? 1 : 0; }

bool debug_enabled() noexcept {
  int d = g_debug.load();
  if (d < 0) {
    const char* env = std::getenv("FERRY_DEBUG");
    d = (env != nullptr && *env != '\0' && std::string_view(env) != "0") ? 1 : 0;
    g_debug = d;
  }
  return d == 1;
}

void warn(std::string_view msg) { emit("warning: ", msg); }
void error(std::string_view msg) { emit("", msg); }
void debug(std::string_view msg) {
  if (debug_enabled()) emit("debug: ", msg);
}

Timer::Timer(const char* name) noexcept : name_(name), start_(std::chrono::steady_clock::now()) {}

Timer::~Timer() {
  if (!debug_enabled()) return;
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                std::chrono::steady_clock::now() - start_)
                .count();
  emit("debug: ", fmt::format("[time] {}: {:.3f} ms", name_, static_cast<double>(us) / 1000.0));
}

}  // namespace ferry::log
