/*
 * timeit: a tiny, precise benchmark driver for whole-process wall time.
 *
 * For each iteration it takes CLOCK_MONOTONIC, fork()s, exec()s the command
 * (stdin/stdout/stderr on /dev/null), wait4()s for it and takes the clock
 * again: the figure is fork + exec + everything the command does + exit +
 * reap, as a user typing the command would see it. Commands are interleaved
 * (iteration i runs them all, in an order rotated by i) so that drift on a
 * shared machine hits every command alike; warm-up rounds run first and are
 * not recorded. Peak RSS comes from wait4()'s rusage (ru_maxrss: the largest
 * of the process and the descendants it reaped).
 *
 * Usage:
 *   timeit [-n N] [-w W] [--runas USER] [--drop-caches] [--raw FILE]
 *          -- LABEL CMD [ARG...] [::: LABEL CMD [ARG...]]...
 *
 *   --runas USER   the child drops to USER (initgroups, setgid, setuid) before
 *                  exec; the driver itself stays root so that it can
 *   --drop-caches  sync and write 3 to /proc/sys/vm/drop_caches before every
 *                  timed run (not timed itself; warm-ups do not drop)
 *   --raw FILE     also write every sample, one "LABEL<TAB>ms" per line
 *
 * Output on stdout, one line per command, tab-separated:
 *   LABEL  N  median_ms  p10_ms  p90_ms  min_ms  mean_ms  maxrss_kb(median)  maxrss_kb(max)
 *
 * A command that exits non-zero stops the driver; it is run once more with
 * stderr shown, so the reason is visible.
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
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct cmd {
  const char *label;
  char **argv;
  double *ms;
  long *rss;
  int n;
};

static struct passwd *runas;
static int drop_caches_flag;

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void drop_caches(void) {
  sync();
  int fd = open("/proc/sys/vm/drop_caches", O_WRONLY);
  if (fd < 0 || write(fd, "3\n", 2) != 2) {
    perror("timeit: drop caches (needs root)");
    exit(2);
  }
  close(fd);
}

/* Runs argv once; returns the wall time in ms, stores ru_maxrss (KiB). */
static double run_once(char **argv, int quiet, long *rss, int *status) {
  double t0 = now_ms();
  pid_t pid = fork();
  if (pid < 0) {
    perror("timeit: fork");
    exit(2);
  }
  if (pid == 0) {
    int null = open("/dev/null", O_RDWR);
    dup2(null, 0);
    dup2(null, 1);
    if (quiet) dup2(null, 2);
    if (null > 2) close(null);
    if (runas) {
      if (initgroups(runas->pw_name, runas->pw_gid) != 0 || setgid(runas->pw_gid) != 0 ||
          setuid(runas->pw_uid) != 0) {
        perror("timeit: drop privileges");
        _exit(126);
      }
    }
    execvp(argv[0], argv);
    fprintf(stderr, "timeit: exec %s: %s\n", argv[0], strerror(errno));
    _exit(127);
  }
  struct rusage ru;
  while (wait4(pid, status, 0, &ru) < 0) {
    if (errno != EINTR) {
      perror("timeit: wait4");
      exit(2);
    }
  }
  double t1 = now_ms();
  *rss = ru.ru_maxrss;
  return t1 - t0;
}

static void run_checked(struct cmd *c, int record) {
  long rss = 0;
  int status = 0;
  double ms = run_once(c->argv, 1, &rss, &status);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    fprintf(stderr, "timeit: '%s' failed (%s %d); once more with stderr shown:\n", c->label,
            WIFEXITED(status) ? "exit" : "signal",
            WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
    run_once(c->argv, 0, &rss, &status);
    exit(3);
  }
  if (record) {
    c->ms[c->n] = ms;
    c->rss[c->n] = rss;
    c->n++;
  }
}

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}
static int cmp_l(const void *a, const void *b) {
  long x = *(const long *)a, y = *(const long *)b;
  return (x > y) - (x < y);
}

/* Median (mean of the middle two for even n) and nearest-rank percentiles. */
static double median(const double *s, int n) { return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2; }
static double pct(const double *s, int n, double p) {
  int i = (int)(p * (n - 1) + 0.5);
  return s[i];
}

static void usage(void) {
  fprintf(stderr,
          "usage: timeit [-n N] [-w W] [--runas USER] [--drop-caches] [--raw FILE] "
          "-- LABEL CMD [ARG...] [::: LABEL CMD [ARG...]]...\n");
  exit(2);
}

int main(int argc, char **argv) {
  int iters = 200, warm = 10;
  const char *raw = NULL;
  int i = 1;
  for (; i < argc; i++) {
    if (!strcmp(argv[i], "--")) {
      i++;
      break;
    } else if (!strcmp(argv[i], "-n") && i + 1 < argc) {
      iters = atoi(argv[++i]);
    } else if (!strcmp(argv[i], "-w") && i + 1 < argc) {
      warm = atoi(argv[++i]);
    } else if (!strcmp(argv[i], "--runas") && i + 1 < argc) {
      runas = getpwnam(argv[++i]);
      if (!runas) {
        fprintf(stderr, "timeit: no such user %s\n", argv[i]);
        return 2;
      }
    } else if (!strcmp(argv[i], "--drop-caches")) {
      drop_caches_flag = 1;
    } else if (!strcmp(argv[i], "--raw") && i + 1 < argc) {
      raw = argv[++i];
    } else {
      usage();
    }
  }
  if (iters < 1 || warm < 0 || i >= argc) usage();

  /* Split the rest into commands at ":::". argv is NULL-terminated, so we
   * turn each ":::" into NULL in place. */
  struct cmd cmds[64];
  int k = 0;
  while (i < argc) {
    if (k == 64) usage();
    if (i + 1 >= argc || !strcmp(argv[i + 1], ":::")) usage();
    cmds[k].label = argv[i];
    cmds[k].argv = &argv[i + 1];
    cmds[k].ms = calloc((size_t)iters, sizeof(double));
    cmds[k].rss = calloc((size_t)iters, sizeof(long));
    cmds[k].n = 0;
    i += 2;
    while (i < argc && strcmp(argv[i], ":::")) i++;
    if (i < argc) argv[i++] = NULL;
    k++;
  }

  for (int w = 0; w < warm; w++)
    for (int j = 0; j < k; j++) run_checked(&cmds[(j + w) % k], 0);
  for (int it = 0; it < iters; it++)
    for (int j = 0; j < k; j++) {
      if (drop_caches_flag) drop_caches();
      run_checked(&cmds[(j + it) % k], 1);
    }

  FILE *rf = raw ? fopen(raw, "w") : NULL;
  if (raw && !rf) perror("timeit: raw file");
  for (int j = 0; j < k; j++) {
    struct cmd *c = &cmds[j];
    if (rf)
      for (int s = 0; s < c->n; s++) fprintf(rf, "%s\t%.4f\n", c->label, c->ms[s]);
    double sum = 0;
    for (int s = 0; s < c->n; s++) sum += c->ms[s];
    qsort(c->ms, (size_t)c->n, sizeof(double), cmp_d);
    qsort(c->rss, (size_t)c->n, sizeof(long), cmp_l);
    long rss_med = c->rss[c->n / 2];
    printf("%s\t%d\t%.4f\t%.4f\t%.4f\t%.4f\t%.4f\t%ld\t%ld\n", c->label, c->n, median(c->ms, c->n),
           pct(c->ms, c->n, 0.10), pct(c->ms, c->n, 0.90), c->ms[0], sum / c->n, rss_med,
           c->rss[c->n - 1]);
  }
  if (rf) fclose(rf);
  return 0;
}
