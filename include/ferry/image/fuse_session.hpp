/// The libfuse low-level plumbing shared by ferry's in-process FUSE servers
/// (the SquashFS image, the hpc module's per-node cache): a session on a
/// /dev/fuse descriptor the runtime has already mounted, and the worker
/// threads that answer its requests.
#pragma once

#include <atomic>
#include <functional>
#include <string>

struct fuse_session;
struct fuse_lowlevel_ops;

namespace ferry::image {

/// A session for OPS and USERDATA on FUSE_FD, which was passed to mount(2)
/// as "fd=N" already. Takes FUSE_FD (the session closes it when destroyed,
/// by fuse_session_destroy). WHAT names the server in errors.
fuse_session* attach_fuse_session(int fuse_fd, const fuse_lowlevel_ops& ops, void* userdata,
                                  const std::string& what);

/// One worker: read a request, answer it, repeat until the mount goes away
/// (ENODEV). Several workers block in read(2) on one descriptor and the
/// kernel hands each request to one of them. SERVED, if given, counts the
/// requests answered.
void serve_fuse_requests(fuse_session* se, const char* thread_name, std::atomic<unsigned long>* served = nullptr);

/// Starts N detached threads running WORKER, with every signal blocked in
/// them: signals are for the runtime's main thread.
void spawn_fuse_workers(unsigned n, const std::function<void()>& worker, const std::string& what);

}  // namespace ferry::image
