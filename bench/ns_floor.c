/*
 * ns_floor: the "namespace floor" for bench/launch, the least a rootless
 * runtime has to do to run a command in a directory image, as an
 * unprivileged user:
 *
 *   unshare(CLONE_NEWUSER | CLONE_NEWNS), one-line uid/gid maps (setgroups
 *   denied first), / made private (recursively), a recursive bind of ROOT
 *   onto itself made read-only (mount_setattr), recursive binds of the host's
 *   /dev, /proc and /sys into it, pivot_root(".", ".") and a detach of the old
 *   root, then execv(CMD).
 *
 * No fork, no supervisor, no $HOME//tmp/etc binds, no passwd/group files, no
 * capability dropping: what a runtime adds on top of this is its overhead.
 *
 * Usage: ns_floor ROOT CMD [ARG...]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif
#ifndef MOUNT_ATTR_RDONLY
#define MOUNT_ATTR_RDONLY 0x00000001
#endif
#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif
struct floor_mount_attr {
  unsigned long long attr_set, attr_clr, propagation, userns_fd;
};

static void die(const char *what, const char *arg) {
  fprintf(stderr, "ns_floor: %s %s: %s\n", what, arg ? arg : "", strerror(errno));
  exit(125);
}

static void write_file(const char *path, const char *text) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) die("open", path);
  size_t len = strlen(text);
  if (write(fd, text, len) != (ssize_t)len) die("write", path);
  close(fd);
}

static void bind(const char *src, const char *root, const char *dst) {
  char path[4096];
  snprintf(path, sizeof path, "%s%s", root, dst);
  if (mount(src, path, NULL, MS_BIND | MS_REC, NULL) != 0) die("bind", path);
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: ns_floor ROOT CMD [ARG...]\n");
    return 125;
  }
  const char *root = argv[1];
  uid_t uid = getuid();
  gid_t gid = getgid();
  if (unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0) die("unshare", NULL);
  char map[64];
  write_file("/proc/self/setgroups", "deny");
  snprintf(map, sizeof map, "%u %u 1\n", uid, uid);
  write_file("/proc/self/uid_map", map);
  snprintf(map, sizeof map, "%u %u 1\n", gid, gid);
  write_file("/proc/self/gid_map", map);
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) die("make private", "/");

  if (mount(root, root, NULL, MS_BIND | MS_REC, NULL) != 0) die("bind", root);
  struct floor_mount_attr attr = {MOUNT_ATTR_RDONLY, 0, 0, 0};
  if (syscall(SYS_mount_setattr, AT_FDCWD, root, 0, &attr, sizeof attr) != 0) die("mount_setattr ro", root);
  bind("/dev", root, "/dev");
  bind("/proc", root, "/proc");
  bind("/sys", root, "/sys");

  if (chdir(root) != 0) die("chdir", root);
  if (syscall(SYS_pivot_root, ".", ".") != 0) die("pivot_root", root);
  if (umount2(".", MNT_DETACH) != 0) die("detach old root", NULL);
  if (chdir("/") != 0) die("chdir", "/");
  execv(argv[2], &argv[2]);
  die("exec", argv[2]);
}
