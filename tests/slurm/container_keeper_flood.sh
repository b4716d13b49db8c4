# The container's keeper runs the user's code (the job's environment, so
# LD_PRELOAD), and slurmstepd, root, reads its ready message: a keeper that
# writes without end is read up to a bound and then killed, and the step
# fails with one line, instead of slurmstepd holding all it writes for as
# long as it writes. The node stays up and runs containers afterwards.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/slurm.bash"
. "$(dirname "$0")/plugin.bash"

command -v cc >/dev/null || skip "no C compiler"
plugin_cluster

# In the keeper only (not srun, not the tasks): its ready descriptor, 3,
# gets 64 KiB at a time until it is closed.
cat >"$T/flood.c" <<'C'
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
__attribute__((constructor)) static void flood(void) {
  char cmd[4096] = {0};
  int fd = open("/proc/self/cmdline", O_RDONLY);
  ssize_t n = fd >= 0 ? read(fd, cmd, sizeof cmd - 1) : 0;
  for (ssize_t i = 0; i < n; ++i) if (cmd[i] == 0) cmd[i] = ' ';
  if (!strstr(cmd, "container-keeper")) return;
  static char junk[65536];
  memset(junk, 'x', sizeof junk);
  while (write(3, junk, sizeof junk) > 0) {
  }
  _exit(1);
}
C
cc -shared -fPIC -o "$T/flood.so" "$T/flood.c" || fail "cannot build the preload library"
chmod a+rx "$T/flood.so"

st=0
err=$(slurm_as_user timeout 120 srun -N1 -n1 --export=ALL,LD_PRELOAD="$T/flood.so" \
  --container-image="$T/img.sqfs" true 2>&1 >/dev/null) || st=$?
[ "$st" != 124 ] || fail "the step did not end within 120 s (slurmstepd read the keeper without a bound)"
[ "$st" != 0 ] || fail "the step succeeded"
expect_contains "$err" "the container did not start: its keeper said more than 8 MiB" "message"

slurm_wait_no_jobs || fail "the job's processes did not end"
expect_eq "$(slurm_as_user srun -N1 -n1 --container-image="$T/img.sqfs" echo ok)" "ok" "a good step afterwards"
