/// Where a user's mount holders are found, and how ferry talks to one.
///
/// The rendezvous directory is $XDG_RUNTIME_DIR/ferry/mounts when
/// XDG_RUNTIME_DIR is the caller's own private directory, else
/// /tmp/ferry-UID/mounts; each level is verified to be a real directory
/// owned by the caller with no access for anyone else. For each image key:
///
///   KEY.lock  flock(2)ed by whoever starts or ends the holder of KEY
///   KEY.sock  the holder's SOCK_SEQPACKET listening socket
///   KEY.root  the directory the image is mounted on, in the holder's namespace
///             (SquashFS only: a directory image's holder mounts nothing)
///
/// Requests are one datagram each: "attach" (reply "ok"; the connection then
/// counts as a container until it closes), "status" (reply: JSON) and "stop"
/// (reply "stopping", or "busy N"). A holder that is ending answers "closing".
#pragma once

#include <sys/types.h>
#include <sys/un.h>

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ferry/core/fd.hpp"

namespace ferry::runtime {

struct HolderPaths {
  std::string lock, sock, root;
};

/// The caller's rendezvous directory, made (0700) when missing. Throws when
/// it exists but is not the caller's own private directory.
std::string rendezvous_dir();

HolderPaths holder_paths(const std::string& dir, const std::string& key);

/// The address of the socket file PATH; throws when PATH is too long for one.
sockaddr_un socket_address(const std::string& path);

/// An flock(2) on a lock file that may be removed by its last holder: after
/// locking, the path is checked to still name the locked file.
class KeyLock {
 public:
  /// Waits for the lock (wait=true) or gives up at once: check locked().
  KeyLock(const std::string& path, bool wait);
  bool locked() const { return static_cast<bool>(fd_); }
  /// Removes the lock file while holding it (the holder's last act).
  void remove();

 private:
  std::string path_;
  Fd fd_;
};

/// A connection to the holder listening at SOCK, or nothing when no holder
/// listens there (a stale socket file, or none).
std::optional<Fd> connect_holder(const std::string& sock);

/// Sends REQUEST and waits (10 s at most) for the reply. Nothing when the
/// holder closed the connection without one. Throws on a timeout.
std::optional<std::string> ask_holder(int fd, std::string_view request);

/// The pid of the holder at the other end of SOCK and a pidfd of it. False
/// when it has gone meanwhile. Throws when the peer is another user's.
bool holder_pidfd(int sock, Fd& pidfd, pid_t& pid);

/// What a container needs to join a holder: the connection that counts it
/// as attached (kept open while the container runs), a pidfd of the holder,
/// and the image's root in the holder's mount namespace: where the SquashFS
/// file is mounted, or the directory image itself.
struct SharedMount {
  Fd socket;
  Fd pidfd;
  pid_t pid = 0;
  std::string root;
  /// A directory image: the device and inode the holder's key was made
  /// from. The tree taken at `root` must be this one (a name swapped for
  /// another directory or a symlink meanwhile must not slip in).
  bool directory = false;
  dev_t dev = 0;
  ino_t ino = 0;
};

/// Joins the holder of the image at PATH (a SquashFS file, or a directory
/// when DIRECTORY), starting one if there is none; at most one holder per
/// image key and user ever runs. NAME is shown by `ferry mounts`; GRACE is
/// the new holder's linger time in seconds; POINTS gives its
/// HolderArgs::points, asked only when a holder is started (not on a join).
/// Must run while single-threaded (it forks).
SharedMount acquire_shared_mount(const std::string& path, const std::string& name, int grace, bool directory,
                                 const std::function<std::vector<std::string>()>& points);

}  // namespace ferry::runtime
