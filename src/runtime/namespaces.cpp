#include "namespaces.hpp"

#include <sched.h>
#include <sys/mount.h>

#include <cerrno>
#include <fmt/format.h>

#include "ferry/core/error.hpp"
#include "ferry/core/fd.hpp"

namespace ferry::runtime {

void enter_namespaces(uid_t uid, gid_t gid, Propagation propagation) {
  if (::unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0) {
    int err = errno;
    if (err == EPERM || err == ENOSPC || err == EUSERS)
      throw Error(err, "unshare", "user namespace (are unprivileged user namespaces disabled? "
                                  "see user.max_user_namespaces)");
    throw Error(err, "unshare", "user and mount namespaces");
  }
  // An unprivileged process may write a one-line map of its own ids, but for
  // gid_map only after denying setgroups(2) (user_namespaces(7), "The
  // /proc/[pid]/setgroups file"). The user keeps its supplementary groups;
  // inside they appear as the overflow gid.
  write_file("/proc/self/setgroups", "deny");
  write_file("/proc/self/uid_map", fmt::format("{} {} 1\n", uid, uid));
  write_file("/proc/self/gid_map", fmt::format("{} {} 1\n", gid, gid));
  // Nothing we mount may propagate back to the host (mount_namespaces(7)).
  unsigned long type = propagation == Propagation::Private ? MS_PRIVATE : MS_SLAVE;
  if (::mount(nullptr, "/", nullptr, MS_REC | type, nullptr) != 0) throw_errno("make mounts private", "/");
}

void join_namespaces(int pidfd, pid_t pid) {
  if (::setns(pidfd, CLONE_NEWUSER | CLONE_NEWNS) != 0)
    throw_errno("setns", fmt::format("namespaces of the mount holder (pid {})", pid));
  // The holder's namespace is shared by every container of the image: this
  // container's volumes, overlay and pivot_root go into a copy of it.
  if (::unshare(CLONE_NEWNS) != 0) throw_errno("unshare", "mount namespace");
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) throw_errno("make mounts private", "/");
}

}  // namespace ferry::runtime
