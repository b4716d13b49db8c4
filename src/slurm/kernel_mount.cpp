// plugstack.conf kernel-mount=yes (kernel_mount.hpp): the step's SquashFS
// image on a read-only loop device, mounted by the kernel's driver.
//
//   as the user (slurmstepd's effective uid)  open the image: a user can
//       never have root mount a file they may not read; check it is a
//       regular SquashFS file on a file system that is not FUSE or an overlay.
//   in a forked child that is root again (slurmstepd's real uid; its own
//       credentials never change: it has threads)  /run/ferry (root, 0711);
//       a step directory in it (root, 0700, an ACL letting only the user
//       through: nobody else reaches the image, and the user cannot write
//       there); a free loop device, read-only and autoclear, on the fd the
//       user opened; mount -t squashfs -o ro,nosuid,nodev at DIR/root.
//   after the keeper's ready  detach the node's mount, remove the
//       directories: the keeper's clone keeps the image for the step, and
//       the loop device frees itself when the step's namespace goes.
#include "kernel_mount.hpp"

#include <fcntl.h>
#include <grp.h>
#include <linux/loop.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>

namespace ferry_spank {
namespace {

constexpr const char* kRunDir = "/run/ferry";
constexpr long kFuseMagic = 0x65735546;     // FUSE_SUPER_MAGIC
constexpr long kOverlayMagic = 0x794c7630;  // OVERLAYFS_SUPER_MAGIC: a user may stack one on FUSE
                                            // in a namespace of theirs and name it by /proc/PID/root

bool g_enabled = false;
std::string g_gate;  // the step's directory name in /run/ferry while it exists
std::string g_root;  // kRunDir/g_gate/root while the image is mounted there

// Where the root child stopped, and why.
enum Stage : int { kDone, kHelper, kPrivilege, kRun, kGate, kAcl, kLoopControl, kLoop, kLost, kMount };
struct Report {
  int stage = kPrivilege;  // the root child's first step (a silent child is kLost: in_child)
  int err = 0;
};

// system.posix_acl_access (linux/posix_acl_xattr.h, little-endian): owner
// (root) rwx, UID --x, nothing for anyone else.
std::string acl_for(uid_t uid) {
  std::string out;
  auto u16 = [&](unsigned v) { out += static_cast<char>(v & 0xff), out += static_cast<char>(v >> 8 & 0xff); };
  auto u32 = [&](uint32_t v) { u16(v & 0xffff), u16(v >> 16); };
  u32(2);  // POSIX_ACL_XATTR_VERSION
  auto entry = [&](unsigned tag, unsigned perm, uint32_t id) { u16(tag), u16(perm), u32(id); };
  entry(0x01, 7, ~0U);  // ACL_USER_OBJ
  entry(0x02, 1, uid);  // ACL_USER
  entry(0x04, 0, ~0U);  // ACL_GROUP_OBJ
  entry(0x10, 1, ~0U);  // ACL_MASK
  entry(0x20, 0, ~0U);  // ACL_OTHER
  return out;
}

// Root again in this (forked, single-threaded) child: the real (and saved)
// uid is slurmstepd's, root; the uid first, as only root may change the
// groups. Root's gid and no supplementary groups: the directories are root's.
bool become_root() {
  return ::setresuid(0, 0, 0) == 0 && ::setresgid(0, 0, 0) == 0 && ::setgroups(0, nullptr) == 0;
}

// /run/ferry, made if missing (MAKE); refused unless a root-owned
// directory only root may write to.
int open_run_dir(bool make = true) {
  if (make && ::mkdir(kRunDir, 0711) != 0 && errno != EEXIST) return -1;
  int fd = ::open(kRunDir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  struct stat st {};
  if (fd >= 0 && (::fstat(fd, &st) != 0 || st.st_uid != 0 || (st.st_mode & 022) != 0)) {
    ::close(fd);
    errno = EPERM;
    return -1;
  }
  return fd;
}

// A free loop device on FILE, read-only and autoclear: its fd, its path in
// PATH. LOOP_CONFIGURE (Linux 5.8), else LOOP_SET_FD + LOOP_SET_STATUS64.
int attach_loop(int file, char* path, size_t path_size, Report& r) {
  r.stage = kLoopControl;
  int control = ::open("/dev/loop-control", O_RDWR | O_CLOEXEC);
  if (control < 0) return -1;
  for (int attempt = 0; attempt < 64; ++attempt) {  // another process may take the free one first
    r.stage = kLoopControl;
    int n = ::ioctl(control, LOOP_CTL_GET_FREE);
    if (n < 0) break;
    r.stage = kLoop;
    // "/dev/loop" + n, without allocating (we are a fork of a threaded process).
    if (path_size < 10) break;
    std::memcpy(path, "/dev/loop", 9);
    auto [end, ec] = std::to_chars(path + 9, path + path_size - 1, n);
    if (ec != std::errc()) break;
    *end = '\0';
    int dev = ::open(path, O_RDWR | O_CLOEXEC);
    if (dev < 0) {
      if (errno == ENOENT || errno == ENXIO) continue;  // removed in between
      break;
    }
    loop_config config{};
    config.fd = static_cast<uint32_t>(file);
    config.info.lo_flags = LO_FLAGS_READ_ONLY | LO_FLAGS_AUTOCLEAR;
    if (::ioctl(dev, LOOP_CONFIGURE, &config) == 0) {
      ::close(control);
      return dev;
    }
    if (errno == ENOTTY || errno == EINVAL) {
      // Read-only follows from FILE's O_RDONLY; autoclear is a status flag.
      if (::ioctl(dev, LOOP_SET_FD, file) == 0) {
        loop_info64 info{};
        info.lo_flags = LO_FLAGS_AUTOCLEAR;
        if (::ioctl(dev, LOOP_SET_STATUS64, &info) == 0) {
          ::close(control);
          return dev;
        }
        int e = errno;
        ::ioctl(dev, LOOP_CLR_FD, 0);
        errno = e;
      }
    }
    int e = errno;
    ::close(dev);
    if (e != EBUSY) {
      errno = e;
      break;
    }
  }
  int e = errno;
  ::close(control);
  errno = e;
  return -1;
}

// The root child: everything privileged, syscalls only. GATE is the step
// directory's name, TARGET its root/.
Report mount_as_root(int file, const char* gate, const char* target, const std::string& acl) {
  Report r;
  if (!become_root()) return r.err = errno, r;
  ::umask(0);
  r.stage = kRun;
  int run = open_run_dir();
  if (run < 0) return r.err = errno, r;
  r.stage = kGate;
  if (::mkdirat(run, gate, 0700) != 0) return r.err = errno, r;
  int dir = ::openat(run, gate, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  auto undo = [&](int stage) {
    r.stage = stage, r.err = errno;
    if (dir >= 0) ::unlinkat(dir, "root", AT_REMOVEDIR);
    ::unlinkat(run, gate, AT_REMOVEDIR);
    return r;
  };
  if (dir < 0) return undo(kGate);
  if (::fsetxattr(dir, "system.posix_acl_access", acl.data(), acl.size(), 0) != 0) return undo(kAcl);
  if (::mkdirat(dir, "root", 0755) != 0) return undo(kGate);
  char loop[32];
  int dev = attach_loop(file, loop, sizeof loop, r);
  if (dev < 0) return undo(r.stage);
  if (::mount(loop, target, "squashfs", MS_RDONLY | MS_NOSUID | MS_NODEV, nullptr) != 0) {
    int e = errno;
    ::ioctl(dev, LOOP_CLR_FD, 0);
    ::close(dev);
    errno = e;
    return undo(kMount);
  }
  ::close(dev);  // the mount holds the device now; autoclear frees it with the last mount
  r.stage = kDone;
  return r;
}

// Runs FN (returning a Report) in a forked child; its report.
template <class Fn>
Report in_child(Fn fn) {
  Report r;
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return Report{kHelper, errno};
  pid_t pid = ::fork();
  if (pid == 0) {
    Report mine = fn();
    (void)!::write(p[1], &mine, sizeof mine);
    ::_exit(0);
  }
  ::close(p[1]);
  if (pid < 0) {
    r = Report{kHelper, errno};
  } else {
    ssize_t n;
    while ((n = ::read(p[0], &r, sizeof r)) < 0 && errno == EINTR) {
    }
    if (n != sizeof r) r = Report{kLost, ECHILD};
    // (slurmstepd may reap it first: ECHILD then; the report is what counts)
    while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
  }
  ::close(p[0]);
  return r;
}

// Detaches the node's mount (TARGET) and removes its directories (GATE), in a
// root child. What is not there (never made, or undone already: a child
// that died part-way) is no error.
void remove_mount(const std::string& gate, const std::string& target) {
  if (gate.empty()) return;
  Report r = in_child([&] {
    Report mine;
    if (!become_root()) return mine.err = errno, mine;
    mine.stage = kMount;
    int unmounted = ::umount2(target.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW) == 0 ? 0 : errno;
    if (unmounted == EINVAL || unmounted == ENOENT) unmounted = 0;  // nothing mounted there
    // Root's directories (the user may only pass through): no race to fear.
    int run = open_run_dir(/*make=*/false);
    int dir = run >= 0 ? ::openat(run, gate.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) : -1;
    int removed = 0;
    if (dir < 0) {
      if (errno != ENOENT) removed = errno;
    } else if ((::unlinkat(dir, "root", AT_REMOVEDIR) != 0 && errno != ENOENT) ||
               ::unlinkat(run, gate.c_str(), AT_REMOVEDIR) != 0) {
      removed = errno;
    }
    mine.err = unmounted != 0 ? unmounted : removed;
    if (mine.err == 0) mine.stage = kDone;
    return mine;
  });
  if (r.stage != kDone)
    slurm_error("ferry: kernel-mount: cannot remove %s: %s", target.c_str(), std::strerror(r.err));
}

const char* stage_name(int stage) {
  switch (stage) {
    case kHelper:
      return "cannot start the helper process (pipe, fork)";
    case kPrivilege:
      return "cannot become root in slurmstepd";
    case kLost:
      return "the helper process ended without a report";
    case kRun:
      return "/run/ferry (must be a directory of root's that only root may write to)";
    case kGate:
      return "cannot make the step's directory in /run/ferry";
    case kAcl:
      return "no POSIX ACLs on /run/ferry";
    case kLoopControl:
      return "no free loop device (/dev/loop-control)";
    case kLoop:
      return "cannot attach a loop device";
    default:
      return "mount -t squashfs";
  }
}

}  // namespace

bool kernel_mount_arg(const std::string& value) {
  if (value != "yes" && value != "no") {
    slurm_error("ferry: plugstack.conf: kernel-mount must be yes or no, got '%s'", value.c_str());
    return false;
  }
  g_enabled = value == "yes";
  return true;
}

int kernel_mount(spank_t sp, const std::string& image, uid_t uid) {
  if (!g_enabled || image.empty() || image[0] != '/') return 0;  // not a path: the keeper looks it up
  // As the user: the kernel will parse only what the user may read. A
  // symlink is followed with the user's permissions, so it grants nothing.
  int file = ::open(image.c_str(), O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (file < 0) {
    if (errno == ENOENT || errno == ENOTDIR) return 0;  // the keeper says "no such image"
    slurm_error("ferry: %s: cannot open the image as uid %u: %s", image.c_str(), static_cast<unsigned>(uid),
                std::strerror(errno));
    return -1;
  }
  struct stat st {};
  struct statfs fs {};
  bool known = ::fstatfs(file, &fs) == 0;
  if (!known || fs.f_type == kFuseMagic || fs.f_type == kOverlayMagic) {
    // A FUSE file's server (maybe the user) would answer the kernel's reads,
    // directly or under an overlay; asked before reading the magic, so that
    // it answers none of ours.
    slurm_info("ferry: kernel-mount: %s %s; using the FUSE holder", image.c_str(),
               known ? "is on FUSE or an overlay" : "is on a file system that cannot be told");
    ::close(file);
    return 0;
  }
  char magic[4] = {};
  bool squashfs = ::fstat(file, &st) == 0 && S_ISREG(st.st_mode) && ::pread(file, magic, 4, 0) == 4 &&
                  std::memcmp(magic, "hsqs", 4) == 0;
  if (!squashfs) {  // a directory image, or not an image: the keeper's to handle
    ::close(file);
    return 0;
  }
  ::fcntl(file, F_SETFL, 0);  // O_NONBLOCK off for the loop driver
  uint32_t job = 0, step = 0;
  spank_get_item(sp, S_JOB_ID, &job);
  spank_get_item(sp, S_JOB_STEPID, &step);
  unsigned char rnd[8] = {};
  if (::getrandom(rnd, sizeof rnd, 0) != sizeof rnd) std::memset(rnd, 0, sizeof rnd);
  std::string gate = std::to_string(job) + "." + std::to_string(step) + "-";
  for (unsigned char c : rnd) gate += "0123456789abcdef"[c >> 4], gate += "0123456789abcdef"[c & 15];
  std::string target = std::string(kRunDir) + "/" + gate + "/root";
  std::string acl = acl_for(uid);
  Report r = in_child([&] { return mount_as_root(file, gate.c_str(), target.c_str(), acl); });
  ::close(file);
  if (r.stage == kDone) {
    g_gate = gate, g_root = target;
    return 0;
  }
  // mount_as_root undoes its own steps when one fails; a child that died
  // before its report may have left some: removed, whatever is there.
  if (r.stage == kLost) remove_mount(gate, target);
  // The kernel (or this node) cannot do it: the FUSE holder can. A
  // corrupt image or one the driver refuses fails the step.
  bool unavailable =
      r.stage != kMount || r.err == ENODEV || r.err == EPERM || r.err == EACCES || r.err == ENOSYS;
  if (unavailable) {
    slurm_info("ferry: kernel-mount: %s: %s: %s; using the FUSE holder", image.c_str(), stage_name(r.stage),
               std::strerror(r.err));
    return 0;
  }
  slurm_error("ferry: %s: the kernel's SquashFS driver rejects the image (mount: %s)", image.c_str(),
              std::strerror(r.err));
  return -1;
}

const std::string& kernel_mount_root() { return g_root; }

void kernel_unmount() { remove_mount(std::exchange(g_gate, {}), std::exchange(g_root, {})); }

}  // namespace ferry_spank
