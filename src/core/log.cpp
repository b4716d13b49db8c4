#include "ferry/core/log.hpp"

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <string>

#include <fmt/format.h>

namespace ferry::log {
namespace {

std::atomic<int> g_debug{-1};  // -1: not decided yet, read FERRY_DEBUG

// MSG with control characters shown as \xNN: messages carry what others
// wrote (a registry's error text, an image's paths), and a terminal must
// not take any of it for a command (escape sequences, extra lines).
// C0 but tab, DEL, and C1 as UTF-8 encodes it (C2 80..9F); other bytes
// pass, UTF-8 text included.
std::string printable(std::string_view msg) {
  std::string out;
  out.reserve(msg.size());
  for (size_t i = 0; i < msg.size(); ++i) {
    auto c = static_cast<unsigned char>(msg[i]);
    bool c1 = c == 0xc2 && i + 1 < msg.size() && static_cast<unsigned char>(msg[i + 1]) >= 0x80 &&
              static_cast<unsigned char>(msg[i + 1]) <= 0x9f;
    if ((c < 0x20 && c != '\t') || c == 0x7f) {
      out += fmt::format("\\x{:02x}", c);
    } else if (c1) {
      out += fmt::format("\\xc2\\x{:02x}", static_cast<unsigned char>(msg[++i]));
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

void emit(std::string_view prefix, std::string_view msg) {
  // One write(2) per line so lines from several processes do not interleave.
  std::string line = fmt::format("ferry: {}{}\n", prefix, printable(msg));
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
