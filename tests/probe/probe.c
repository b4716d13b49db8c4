/* ferry-probe: run inside a container, prints what the kernel says about
 * this process, one "key=value" per line, for the integration tests:
 *   ferry-probe            ids, NoNewPrivs, capability sets
 *   ferry-probe mount PATH whether PATH is on a read-only/nosuid/nodev mount
 * Static so that it runs in any image. */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

static void status_field(const char *key) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[512];
  size_t n = strlen(key);
  if (!f) return;
  while (fgets(line, sizeof line, f))
    if (strncmp(line, key, n) == 0 && line[n] == ':') {
      char *v = line + n + 1;
      while (*v == ' ' || *v == '\t') v++;
      printf("%s=%s", key, v);
    }
  fclose(f);
}

int main(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "mount") == 0) {
    struct statvfs sv;
    if (statvfs(argv[2], &sv) != 0) { perror(argv[2]); return 1; }
    printf("ro=%d\nnosuid=%d\nnodev=%d\n", !!(sv.f_flag & ST_RDONLY),
           !!(sv.f_flag & ST_NOSUID), !!(sv.f_flag & ST_NODEV));
    return 0;
  }
  printf("uid=%u\ngid=%u\neuid=%u\negid=%u\n", getuid(), getgid(), geteuid(), getegid());
  status_field("NoNewPrivs");
  status_field("CapInh");
  status_field("CapPrm");
  status_field("CapEff");
  status_field("CapBnd");
  status_field("CapAmb");
  return 0;
}
