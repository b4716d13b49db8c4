/*
 * fanout: start N copies of one command together and time them as a batch.
 *
 * It forks N children first; each drops to --runas USER (when given), puts
 * its stdin/stdout on /dev/null (stderr is kept, so failures are visible)
 * and blocks on a pipe. Then the driver takes CLOCK_MONOTONIC and closes the
 * pipe, which releases all of them at once into exec(); it wait4()s each and
 * takes the clock when the last one is reaped. The figure is the wall time
 * from "go" to the last exit, as a batch launcher would see it.
 *
 * Memory: with --cgroup DIR (a memory cgroup made by the caller, root), the
 * driver moves itself into DIR before forking, so the children and all they
 * start (a detached FUSE server or mount holder included) are charged there,
 * and prints the cgroup's peak after the last child is reaped: cgroup v2
 * memory.peak, or v1 memory.max_usage_in_bytes (process memory, page cache
 * and kernel memory charged while the batch ran). It also sums the children's
 * ru_maxrss (each child's peak RSS, the largest of it and what it reaped),
 * which counts shared pages once per process.
 *
 * Usage: fanout [-n N] [--runas USER] [--cgroup DIR] -- CMD [ARG...]
 * Output (stdout, one line, tab-separated):
 *   wall_ms  failed  sum_maxrss_kb  max_maxrss_kb  cgroup_peak_kb (-1: none)
 * Exit status: 0, or 3 when any child failed (exit status not 0).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void write_file(const char *path, const char *text) {
  int fd = open(path, O_WRONLY);
  if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
    fprintf(stderr, "fanout: write %s: %s\n", path, strerror(errno));
    exit(2);
  }
  close(fd);
}

/* The cgroup's peak in KiB (v2 memory.peak, else v1), or -1. */
static long cgroup_peak_kb(const char *dir) {
  static const char *names[] = {"memory.peak", "memory.max_usage_in_bytes"};
  for (int i = 0; i < 2; i++) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    FILE *f = fopen(path, "r");
    if (!f) continue;
    unsigned long long bytes = 0;
    int ok = fscanf(f, "%llu", &bytes) == 1;
    fclose(f);
    if (ok) return (long)(bytes / 1024);
  }
  return -1;
}

static void usage(void) {
  fprintf(stderr, "usage: fanout [-n N] [--runas USER] [--cgroup DIR] -- CMD [ARG...]\n");
  exit(2);
}

int main(int argc, char **argv) {
  int n = 32;
  struct passwd *runas = NULL;
  const char *cgroup = NULL;
  int i = 1;
  for (; i < argc; i++) {
    if (!strcmp(argv[i], "--")) {
      i++;
      break;
    } else if (!strcmp(argv[i], "-n") && i + 1 < argc) {
      n = atoi(argv[++i]);
    } else if (!strcmp(argv[i], "--runas") && i + 1 < argc) {
      runas = getpwnam(argv[++i]);
      if (!runas) {
        fprintf(stderr, "fanout: no such user %s\n", argv[i]);
        return 2;
      }
    } else if (!strcmp(argv[i], "--cgroup") && i + 1 < argc) {
      cgroup = argv[++i];
    } else {
      usage();
    }
  }
  if (n < 1 || n > 4096 || i >= argc) usage();
  char **cmd = &argv[i];

  if (cgroup) {
    char path[4096], pid[32];
    snprintf(path, sizeof path, "%s/cgroup.procs", cgroup);
    snprintf(pid, sizeof pid, "%d\n", (int)getpid());
    write_file(path, pid);
  }

  int go[2];
  if (pipe2(go, O_CLOEXEC) != 0) {
    perror("fanout: pipe");
    return 2;
  }
  pid_t *pids = calloc((size_t)n, sizeof(pid_t));
  for (int k = 0; k < n; k++) {
    pids[k] = fork();
    if (pids[k] < 0) {
      perror("fanout: fork");
      return 2;
    }
    if (pids[k] == 0) {
      close(go[1]);
      int null = open("/dev/null", O_RDWR);
      dup2(null, 0);
      dup2(null, 1);
      if (null > 2) close(null);
      if (runas && (initgroups(runas->pw_name, runas->pw_gid) != 0 || setgid(runas->pw_gid) != 0 ||
                    setuid(runas->pw_uid) != 0)) {
        perror("fanout: drop privileges");
        _exit(126);
      }
      char c;
      while (read(go[0], &c, 1) < 0 && errno == EINTR) {
      }
      execvp(cmd[0], cmd);
      fprintf(stderr, "fanout: exec %s: %s\n", cmd[0], strerror(errno));
      _exit(127);
    }
  }
  close(go[0]);
  double t0 = now_ms();
  close(go[1]);  // go
  int failed = 0;
  long sum_rss = 0, max_rss = 0;
  for (int left = n; left > 0;) {
    int status;
    struct rusage ru;
    pid_t p = wait4(-1, &status, 0, &ru);
    if (p < 0) {
      if (errno == EINTR) continue;
      perror("fanout: wait4");
      return 2;
    }
    left--;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) failed++;
    sum_rss += ru.ru_maxrss;
    if (ru.ru_maxrss > max_rss) max_rss = ru.ru_maxrss;
  }
  double t1 = now_ms();
  long peak = cgroup ? cgroup_peak_kb(cgroup) : -1;
  printf("%.3f\t%d\t%ld\t%ld\t%ld\n", t1 - t0, failed, sum_rss, max_rss, peak);
  free(pids);
  return failed ? 3 : 0;
}
