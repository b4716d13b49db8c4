/// Entering the container's user and mount namespaces (user_namespaces(7)).
#pragma once

#include <sys/types.h>

namespace ferry::runtime {

/// How the new mount namespace relates to the host's (mount_namespaces(7)).
enum class Propagation {
  Private,  ///< a snapshot: nothing flows either way (a container)
  Slave,    ///< host mounts made later still appear; nothing flows back (a mount holder)
};

/// unshare(CLONE_NEWUSER|CLONE_NEWNS) and map the caller's uid/gid to the
/// same ids inside, and nothing else: inside, the user is still the user.
/// Must run while the process is single-threaded (unshare(2): EINVAL).
void enter_namespaces(uid_t uid, gid_t gid, Propagation propagation = Propagation::Private);

/// Enters the user and mount namespaces of the process behind PIDFD (a
/// mount holder: setns(2) with a pidfd, Linux 5.8), then unshares a private
/// copy of that mount namespace, so the caller's mounts are its own. The
/// kernel allows it only to the namespaces' owner. Single-threaded only.
void join_namespaces(int pidfd, pid_t pid);

}  // namespace ferry::runtime
