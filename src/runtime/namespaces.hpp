/// Entering the container's user and mount namespaces (user_namespaces(7)).
#pragma once

#include <sys/types.h>

namespace ferry::runtime {

/// unshare(CLONE_NEWUSER|CLONE_NEWNS) and map the caller's uid/gid to the
/// same ids inside, and nothing else: inside, the user is still the user.
/// Must run while the process is single-threaded (unshare(2): EINVAL).
void enter_namespaces(uid_t uid, gid_t gid);

}  // namespace ferry::runtime
