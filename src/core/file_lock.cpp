#include "ferry/core/file_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <thread>

#include "ferry/core/error.hpp"
#include "ferry/core/log.hpp"

namespace ferry {

FileLock::FileLock(const std::string& path) : fd_(open_or_throw(path, O_RDWR | O_CREAT, 0600)) {
  if (::flock(fd_.get(), LOCK_EX | LOCK_NB) == 0) return;
  if (errno != EWOULDBLOCK) throw_errno("lock", path);
  auto start = std::chrono::steady_clock::now();
  bool told = false;
  while (::flock(fd_.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK) throw_errno("lock", path);
    if (!told && std::chrono::steady_clock::now() - start > std::chrono::seconds(2)) {
      log::warn("waiting for another ferry holding " + path);
      told = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

void sync_parent_dir(const std::string& path) {
  auto slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  Fd d = open_or_throw(dir, O_RDONLY | O_DIRECTORY);
  if (::fsync(d.get()) != 0) throw_errno("fsync", dir);
}

void write_file_atomic(const std::string& path, std::string_view data, int mode) {
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  {
    Fd f = open_or_throw(tmp, O_WRONLY | O_CREAT | O_TRUNC, mode);
    const char* p = data.data();
    size_t left = data.size();
    while (left > 0) {
      ssize_t n = ::write(f.get(), p, left);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        int err = errno;
        ::unlink(tmp.c_str());
        throw Error(err, "write", tmp);
      }
      p += n;
      left -= static_cast<size_t>(n);
    }
    if (::fsync(f.get()) != 0) {
      int err = errno;
      ::unlink(tmp.c_str());
      throw Error(err, "fsync", tmp);
    }
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    throw Error(err, "rename", tmp + " to " + path);
  }
  sync_parent_dir(path);
}

}  // namespace ferry
