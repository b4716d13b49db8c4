#include "ferry/core/file_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <thread>

#include "ferry/core/error.hpp"
#include "ferry/core/log.hpp"

namespace ferry {

namespace {

// flock(2) without waiting: true when taken, false when another holder's
// lock conflicts; throws on any other failure.
bool try_lock(int fd, int op, const std::string& path) {
  int r;
  while ((r = ::flock(fd, op | LOCK_NB)) != 0 && errno == EINTR) {
  }
  if (r == 0) return true;
  if (errno != EWOULDBLOCK) throw_errno("lock", path);
  return false;
}

}  // namespace

FileLock::FileLock(const std::string& path, Mode mode) : fd_(open_or_throw(path, O_RDWR | O_CREAT, 0600)) {
  const int op = mode == Mode::kShared ? LOCK_SH : LOCK_EX;
  auto start = std::chrono::steady_clock::now();
  bool told = false;
  // Polled, so that the warning can come after 2 s (a blocking flock could
  // only be cut short by a signal, in a process with threads). Most holds
  // last milliseconds (an index rewrite): the first waits are short.
  auto pause = std::chrono::milliseconds(1);
  while (!try_lock(fd_.get(), op, path)) {
    if (!told && std::chrono::steady_clock::now() - start > std::chrono::seconds(2)) {
      log::warn("waiting for another ferry holding " + path);
      told = true;
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(20));
  }
}

std::optional<FileLock> FileLock::try_exclusive(const std::string& path) {
  Fd fd = open_or_throw(path, O_RDWR | O_CREAT, 0600);
  if (!try_lock(fd.get(), LOCK_EX, path)) return std::nullopt;
  return FileLock(std::move(fd));
}

void sync_parent_dir(const std::string& path) {
  auto slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  Fd d = open_or_throw(dir, O_RDONLY | O_DIRECTORY);
  if (::fsync(d.get()) != 0) throw_errno("fsync", dir);
}

void write_file_atomic(const std::string& path, std::string_view data, int mode) {
  TempFile tmp(path + ".tmp." + std::to_string(::getpid()));  // removed on any failure
  {
    Fd f = open_or_throw(tmp.path(), O_WRONLY | O_CREAT | O_TRUNC, mode);
    write_all(f.get(), data.data(), data.size(), tmp.path());
    if (::fsync(f.get()) != 0) throw_errno("fsync", tmp.path());
  }
  if (::rename(tmp.path().c_str(), path.c_str()) != 0) throw_errno("rename", tmp.path() + " to " + path);
  tmp.release();
  sync_parent_dir(path);
}

}  // namespace ferry
