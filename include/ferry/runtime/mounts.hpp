/// Shared image mounts (ARCHITECTURE.md decision 6): the first container of
/// a SquashFS image on a node starts a mount holder, a process that owns a
/// user and a mount namespace in which the image is mounted and that serves
/// its FUSE requests. Later containers of that image, by the same user, join
/// those namespaces and unshare a private copy of the mount tree for their
/// own binds. The holder lingers for a grace period after the last container
/// leaves, then unmounts and exits. Design: docs/design/shared-mounts.md.
///
/// A directory image's holder (`ferry run --mpi DIR`) mounts nothing: it
/// only owns the user and mount namespaces, so that the node's MPI ranks of
/// that directory share one user namespace (docs/design/mpi.md).
///
/// This header is what the CLI needs: listing and ending holders, and the
/// holder process's own entry point (`ferry mount-holder`, started by ferry).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace ferry::runtime {

/// What a holder says about itself (`ferry mounts`).
struct HolderStatus {
  std::string key;          ///< the image file's identity, see mount_key()
  pid_t pid = 0;
  std::string image;        ///< the name the first container gave
  std::string path;         ///< the SquashFS file, or the directory
  bool directory = false;   ///< a directory image's holder: namespaces only, no mount
  int64_t since = 0;        ///< start, seconds since the epoch
  unsigned attached = 0;    ///< containers using it now
  uint64_t requests = 0;    ///< FUSE requests served (0: a directory's holder serves none)
  int grace = 0;            ///< seconds it lingers once idle
};

/// The key of the SquashFS file at PATH: a hash of its device, inode, size
/// and ctime, so a file replaced or rewritten gets a new holder while every
/// name of one file shares one. For a directory: of its device and inode
/// (its contents are live, read through the path; a directory replaced gets
/// a new holder). Throws when PATH cannot be stat'ed.
std::string mount_key(const std::string& path);

/// The calling user's holders on this node. Rendezvous files left by a
/// holder that died are removed on the way.
std::vector<HolderStatus> list_holders();

enum class StopOutcome { Stopped, Busy, NotRunning };

/// Asks the holder of KEY to end if no container uses it, and waits until it
/// has exited. `attached` receives the count when it is busy.
StopOutcome stop_holder(const std::string& key, unsigned& attached);

/// The arguments ferry passes to `ferry mount-holder`.
struct HolderArgs {
  std::string key;
  std::string image;
  std::string path;
  bool directory = false;  ///< PATH is a directory image: mount nothing
  /// Mount points to make in the shared layer when the image lacks them:
  /// "d:PATH" (a directory) or "f:PATH" (a file).
  std::vector<std::string> points;
  int grace = 60;
  int ready_fd = -1;  ///< written "ok", or the error, once it serves
};

/// The holder process. Does not return once serving: it _exit()s after the
/// grace period (0), or returns 1 after reporting a start-up failure.
int holder_main(const HolderArgs& args);

}  // namespace ferry::runtime
