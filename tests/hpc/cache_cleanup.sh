# A per-node cache lives on disk under [cache] dir while the container runs
# (not in RAM), and nothing of it remains after the container ends; when
# ferry is killed (SIGKILL) the leftover is removed by the next ferry that
# makes a cache.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/cache.bash"

cache_setup
user_dir "$T/u"
UDIR=$CDIR/ferry-cache-$TEST_UID

# What is left under the cache directory besides ferry's scan lock.
leftovers() { find "$UDIR" -mindepth 1 ! -name .lock 2>/dev/null || true; }

start_ferry() {
  if [ "$(id -u)" = 0 ]; then
    (cd "$TEST_HOME" && exec setpriv --reuid="$TEST_UID" --regid="$TEST_GID" --init-groups --reset-env \
      env HOME="$TEST_HOME" USER="$TEST_USER" LOGNAME="$TEST_USER" XDG_RUNTIME_DIR="$XDG" XDG_CONFIG_HOME="$CFG" \
      "$FERRY" "$@") &
  else
    (cd "$TEST_HOME" && exec env XDG_RUNTIME_DIR="$XDG" XDG_CONFIG_HOME="$CFG" "$FERRY" "$@") &
  fi
  pid=$!
}

wait_file() {
  for _ in $(seq 200); do [ -e "$1" ] && return 0; alive "$pid" || return 1; sleep 0.05; done
  return 1
}

while read -r form img; do
  rm -f "$T/u/"*
  # While it runs: the data is a plain file under the configured directory.
  start_ferry run -v "$T/u:/u" --scratch /cache:size=64M "$img" sh -c \
    "dd if=/dev/zero of=/cache/data bs=1M count=3 2>/dev/null && touch /u/written && while [ ! -e /u/done ]; do sleep 0.05; done"
  wait_file "$T/u/written" || { kill -KILL "$pid" 2>/dev/null; fail "$form: the container did not write"; }
  backing=$(find "$UDIR" -path '*/data/data' -type f)
  [ -n "$backing" ] || fail "$form: no backing file under $UDIR"
  expect_eq "$(stat -c %s "$backing")" 3145728 "$form backing file size"
  fstype=$(stat -f -c %T "$backing")
  if [ "$(stat -f -c %T "$T")" != tmpfs ]; then
    [ "$fstype" != tmpfs ] || fail "$form: the cache is backed by tmpfs (RAM)"
  fi
  touch "$T/u/done"
  wait "$pid" || fail "$form: the container failed"
  expect_eq "$(leftovers)" "" "$form leftovers after a normal exit"

  # ferry killed: its cache stays behind, then the next start removes it.
  rm -f "$T/u/"*
  start_ferry run -v "$T/u:/u" -v "/x:/cache:perNodeCache=size=64M" "$img" sh -c \
    "echo x >/cache/file && mkdir /cache/locked && chmod 0 /cache/locked && touch /u/written && while :; do sleep 0.1; done"
  wait_file "$T/u/written" || { kill -KILL "$pid" 2>/dev/null; fail "$form: the container did not write"; }
  kill -KILL "$pid"
  { wait "$pid" || true; } 2>/dev/null
  [ -n "$(leftovers)" ] || fail "$form: nothing left after kill -9 (the test cannot see the clean-up)"
  expect_status 0 ferry_shared run --scratch /s:size=1M "$img" true
  expect_eq "$(leftovers)" "" "$form leftovers after the next start"
done < <(image_forms)
