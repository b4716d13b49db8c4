#include "ferry/core/limits.hpp"

#include <sys/resource.h>

#include <atomic>

#include "ferry/core/log.hpp"

namespace ferry {
namespace {

struct rlimit g_original {};
std::atomic<bool> g_raised{false};

}  // namespace

void raise_open_files_limit() noexcept {
  struct rlimit rl {};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max) return;
  struct rlimit raised = rl;
  raised.rlim_cur = rl.rlim_max;
  if (::setrlimit(RLIMIT_NOFILE, &raised) != 0) {
    log::debug("could not raise the open-file limit");
    return;
  }
  if (!g_raised.load()) {
    g_original = rl;
    g_raised.store(true);
  }
}

void restore_open_files_limit() noexcept {
  if (g_raised.load()) ::setrlimit(RLIMIT_NOFILE, &g_original);
}

}  // namespace ferry
