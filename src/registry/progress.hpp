// Download progress for pulls and pushes: on a terminal, one line per blob
// and a total, redrawn five times a second; otherwise one plain line per
// blob when it completes; nothing when quiet. Thread-safe. Private to
// src/registry.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace ferry::registry {

class Progress {
 public:
  /// VERB says what happens to the blobs ("downloaded", "pushed").
  Progress(bool quiet, std::string verb);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  /// A blob to follow, before the transfers start.
  void blob(const std::string& digest, uint64_t size);
  /// N more bytes of DIGEST arrived (or left).
  void add(const std::string& digest, uint64_t n);
  /// DIGEST is complete; HOW says how, when not by VERB ("already there").
  void done(const std::string& digest, const char* how = nullptr);
  /// Draws the last state and stops redrawing (idempotent).
  void stop();

 private:
  struct Item {
    std::string digest;
    uint64_t size = 0, have = 0;
    bool done = false;
  };
  Item* find(const std::string& digest);
  void draw(bool first);
  void run();

  bool quiet_, tty_;
  std::string verb_;
  std::vector<Item> items_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false, drawn_ = false;
  std::thread thread_;
};

}  // namespace ferry::registry
