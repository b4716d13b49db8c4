# INT, TERM, HUP, QUIT, USR1 and USR2 sent to ferry reach the command, and
# ferry exits with the command's status (the trap's, or 128+N if it dies).
. "$(dirname "$0")/../lib.sh"

user_dir "$T/u"

# start_ferry ARG...: runs ferry ARG... as the test user in the background
# with default signal dispositions (a background job of a script would
# otherwise start with INT and QUIT ignored); sets $pid to ferry's own pid:
# setpriv and env exec, so the job's pid is ferry's.
start_ferry() {
  if [ "$(id -u)" = 0 ]; then
    (cd "$TEST_HOME" && exec setpriv --reuid="$TEST_UID" --regid="$TEST_GID" --init-groups --reset-env \
      env --default-signal HOME="$TEST_HOME" USER="$TEST_USER" LOGNAME="$TEST_USER" "$FERRY" "$@") &
  else
    (cd "$TEST_HOME" && exec env --default-signal "$FERRY" "$@") &
  fi
  pid=$!
}

# wait_ready FILE: until the container has created FILE (bounded, not timed).
wait_ready() {
  local i
  for i in $(seq 200); do
    [ -e "$1" ] && return 0
    running || fail "ferry exited before the container was ready"
    sleep 0.05
  done
  kill -KILL $(pgrep -P "$pid") "$pid" 2>/dev/null || true  # the command first: it would outlive ferry
  fail "the container did not start: $1 never appeared"
}

# running: ferry is alive (a zombie has exited, it only waits for our wait;
# a stat file that cannot be read means it is being reaped).
running() {
  local state
  state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) || return 1
  [ -n "$state" ] && [ "$state" != Z ]
}

# wait_exit WHAT: ferry's exit status in $st. Waits on the process itself
# (polling /proc races with the reap); a watchdog kills ferry and fails the
# test if it does not exit (the signal was not forwarded) within a bound,
# which is not a timing.
wait_exit() {
  rm -f "$T/watchdog-fired"
  (sleep 20 && touch "$T/watchdog-fired" && kill -KILL $(pgrep -P "$pid") "$pid" 2>/dev/null) &
  local dog=$!
  st=0
  wait "$pid" || st=$?
  pkill -P "$dog" sleep 2>/dev/null || true
  wait "$dog" 2>/dev/null || true
  [ ! -e "$T/watchdog-fired" ] || fail "$1: ferry did not exit after the signal"
}

while read -r form img; do
  n=40
  for sig in INT TERM HUP QUIT USR1 USR2; do
    n=$((n + 1))
    ready=$T/u/ready-$form-$sig
    start_ferry run -v "$T/u:/u" "$img" sh -c "trap 'exit $n' $sig; touch /u/${ready##*/}; while :; do sleep 0.1; done"
    wait_ready "$ready"
    expect_eq "$(cat "/proc/$pid/comm")" ferry "$form pid signalled is ferry's"
    kill -s "$sig" "$pid"
    wait_exit "$form SIG$sig"
    expect_eq "$st" "$n" "$form SIG$sig forwarded: exit status"
  done

  # No trap: the command dies of SIGTERM and ferry says so.
  ready=$T/u/ready-$form-default
  start_ferry run -v "$T/u:/u" "$img" sh -c "touch /u/${ready##*/}; while :; do sleep 0.1; done"
  wait_ready "$ready"
  kill -s TERM "$pid"
  wait_exit "$form SIGTERM without a trap"
  expect_eq "$st" 143 "$form SIGTERM without a trap: exit status"
done < <(image_forms)
