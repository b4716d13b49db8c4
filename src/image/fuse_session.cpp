// libfuse 3.14's low-level API (the version the callers' ops tables are for).
#define FUSE_USE_VERSION 35

#include "ferry/image/fuse_session.hpp"

#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <pthread.h>
#include <signal.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <system_error>
#include <thread>

#include "ferry/core/error.hpp"
#include "ferry/core/fd.hpp"
#include "ferry/core/log.hpp"

namespace ferry::image {

fuse_session* attach_fuse_session(int fuse_fd, const fuse_lowlevel_ops& ops, void* userdata,
                                  const std::string& what) {
  Fd fd(fuse_fd);
  // The container's processes must not inherit the connection.
  if (::fcntl(fd.get(), F_SETFD, FD_CLOEXEC) < 0) throw_errno("fcntl FD_CLOEXEC", "/dev/fuse");
  char arg0[] = "ferry";
  char* argv[] = {arg0, nullptr};
  fuse_args args = FUSE_ARGS_INIT(1, argv);
  fuse_session* se = fuse_session_new(&args, &ops, sizeof(ops), userdata);
  fuse_opt_free_args(&args);
  if (se == nullptr) throw Error(what + ": fuse_session_new failed");
  // libfuse >= 3.3 reads the mount point "/dev/fd/N" as "already mounted on
  // descriptor N" and mounts nothing (lib/fuse_lowlevel.c, fuse_session_mount()).
  std::string path = "/dev/fd/" + std::to_string(fd.get());
  if (fuse_session_mount(se, path.c_str()) != 0) {
    fuse_session_destroy(se);
    throw Error(what + ": fuse_session_mount " + path + " failed");
  }
  fd.release();  // fuse_session_destroy() closes it from now on
  return se;
}

void serve_fuse_requests(fuse_session* se, const char* thread_name, std::atomic<unsigned long>* served) {
  pthread_setname_np(pthread_self(), thread_name);  // for ps -L, gdb, the tests
  fuse_buf buf{};
  int res = 0;
  while (fuse_session_exited(se) == 0) {
    res = fuse_session_receive_buf(se, &buf);
    if (res == -EINTR || res == -EAGAIN) continue;
    if (res <= 0) break;  // 0: unmounted or aborted (read(2) gave ENODEV)
    fuse_session_process_buf(se, &buf);
    if (served != nullptr) served->fetch_add(1, std::memory_order_relaxed);
  }
  std::free(buf.mem);
  if (res < 0) {
    log::debug(std::string(thread_name) + ": reading /dev/fuse: " + std::strerror(-res));
    fuse_session_exit(se);
  }
}

void spawn_fuse_workers(unsigned n, const std::function<void()>& worker, const std::string& what) {
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  try {
    for (unsigned i = 0; i < n; ++i) std::thread(worker).detach();
  } catch (const std::system_error& e) {
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    throw Error(e.code().value(), what + ": start worker thread", "");
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

}  // namespace ferry::image
