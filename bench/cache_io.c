// bench/cache's workload, run natively and inside a container so that both
// sides run the same code and time only the I/O (CLOCK_MONOTONIC):
//   cache_io seq FILE MIB    write MIB MiB in 1 MiB writes, fsync, close
//   cache_io files DIR N KIB create N files of KIB KiB each (no sync: FUSE
//                            passes no syncfs, so neither side syncs)
// Prints the elapsed seconds on stdout.
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void die(const char* what) {
  perror(what);
  exit(1);
}

static void write_full(int fd, const char* buf, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, buf, n);
    if (w < 0) die("write");
    buf += w;
    n -= (size_t)w;
  }
}

int main(int argc, char** argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: cache_io seq FILE MIB | files DIR N KIB\n");
    return 2;
  }
  static char buf[1 << 20];
  memset(buf, 'x', sizeof buf);
  double t0 = now();
  if (strcmp(argv[1], "seq") == 0) {
    long mib = atol(argv[3]);
    int fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) die("open");
    for (long i = 0; i < mib; ++i) write_full(fd, buf, sizeof buf);
    if (fsync(fd) != 0) die("fsync");
    close(fd);
  } else if (argc == 5 && strcmp(argv[1], "files") == 0) {
    long n = atol(argv[3]);
    size_t size = (size_t)atol(argv[4]) << 10;
    int dir = open(argv[2], O_RDONLY | O_DIRECTORY);
    if (dir < 0) die("open dir");
    char name[32];
    for (long i = 0; i < n; ++i) {
      snprintf(name, sizeof name, "f%ld", i);
      int fd = openat(dir, name, O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd < 0) die("open");
      write_full(fd, buf, size);
      close(fd);
    }
    close(dir);
  } else {
    fprintf(stderr, "cache_io: unknown mode %s\n", argv[1]);
    return 2;
  }
  printf("%.6f\n", now() - t0);
  return 0;
}
