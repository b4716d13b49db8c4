// Progress display (progress.hpp).
#include "progress.hpp"

#include <unistd.h>

#include <cstdio>
#include <fmt/format.h>

namespace ferry::registry {
namespace {

std::string mb(uint64_t n) { return fmt::format("{:.1f} MB", static_cast<double>(n) / 1e6); }

std::string short_digest(const std::string& d) { return d.substr(0, 7 + 12); }  // "sha256:" + 12 hex

}  // namespace

Progress::Progress(bool quiet, std::string verb) : quiet_(quiet), tty_(::isatty(2) == 1), verb_(std::move(verb)) {}

Progress::~Progress() { stop(); }

Progress::Item* Progress::find(const std::string& digest) {
  for (auto& i : items_)
    if (i.digest == digest) return &i;
  return nullptr;
}

void Progress::blob(const std::string& digest, uint64_t size) {
  std::lock_guard lock(mu_);
  items_.push_back({digest, size, 0, false});
  if (!quiet_ && tty_ && !thread_.joinable()) thread_ = std::thread([this] { run(); });
}

void Progress::add(const std::string& digest, uint64_t n) {
  std::lock_guard lock(mu_);
  if (Item* i = find(digest)) i->have += n;
}

void Progress::done(const std::string& digest, const char* how) {
  std::lock_guard lock(mu_);
  Item* i = find(digest);
  if (i == nullptr) return;
  i->done = true;
  if (how) i->have = i->size;
  if (quiet_ || tty_) return;
  if (how)
    std::fprintf(stderr, "%s: %s\n", short_digest(digest).c_str(), how);
  else
    std::fprintf(stderr, "%s: %s (%s)\n", short_digest(digest).c_str(), verb_.c_str(), mb(i->have).c_str());
}

// Under mu_. Moves the cursor back over the lines drawn last time.
void Progress::draw(bool first) {
  std::string out;
  if (!first) out += fmt::format("\033[{}A", items_.size() + 1);
  uint64_t have = 0, size = 0;
  for (const auto& i : items_) {
    have += i.have;
    size += i.size;
    int bar = i.size ? static_cast<int>(20 * std::min<uint64_t>(i.have, i.size) / i.size) : 20;
    out += fmt::format("\r\033[K{}  [{:<20}]  {} / {}{}\n", short_digest(i.digest), std::string(bar, '#'), mb(i.have),
                       mb(i.size), i.done ? "  " + verb_ : "");
  }
  out += fmt::format("\r\033[Ktotal                [{:<20}]  {} / {}\n",
                     std::string(size ? 20 * std::min(have, size) / size : 20, '#'), mb(have), mb(size));
  std::fputs(out.c_str(), stderr);
  std::fflush(stderr);
}

void Progress::run() {
  std::unique_lock lock(mu_);
  draw(true);
  drawn_ = true;
  while (!stopping_) {
    cv_.wait_for(lock, std::chrono::milliseconds(200));
    draw(false);
  }
}

void Progress::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

}  // namespace ferry::registry
