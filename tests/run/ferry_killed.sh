# If ferry itself dies without a chance to clean up (SIGKILL, the OOM
# killer), the command it started does not live on without it
# (PR_SET_PDEATHSIG, STYLE.md 8).
. "$(dirname "$0")/../lib.sh"

user_dir "$T/u"

# start_ferry ARG...: ferry ARG... as the test user in the background; $pid
# is ferry's own pid (setpriv and env exec).
start_ferry() {
  if [ "$(id -u)" = 0 ]; then
    (cd "$TEST_HOME" && exec setpriv --reuid="$TEST_UID" --regid="$TEST_GID" --init-groups --reset-env \
      env HOME="$TEST_HOME" USER="$TEST_USER" LOGNAME="$TEST_USER" "$FERRY" "$@") &
  else
    (cd "$TEST_HOME" && exec "$FERRY" "$@") &
  fi
  pid=$!
}

while read -r form img; do
  start_ferry run -v "$T/u:/u" "$img" sh -c "echo \$\$ >/u/pid-$form.tmp && mv /u/pid-$form.tmp /u/pid-$form; while :; do sleep 0.1; done"
  for _ in $(seq 200); do
    [ -e "$T/u/pid-$form" ] && break
    alive "$pid" || break
    sleep 0.05
  done
  [ -e "$T/u/pid-$form" ] || { kill -KILL $(pgrep -P "$pid") "$pid" 2>/dev/null || true; fail "$form: the container did not start"; }
  cmd=$(cat "$T/u/pid-$form")
  expect_eq "$(stat -c %u "/proc/$cmd")" "$TEST_UID" "$form command pid"

  kill -KILL "$pid"
  { wait "$pid" || true; } 2>/dev/null
  for _ in $(seq 100); do alive "$cmd" || break; sleep 0.05; done
  if alive "$cmd"; then
    kill -KILL "$cmd" 2>/dev/null || true
    fail "$form: the command (pid $cmd) kept running after ferry was killed"
  fi
done < <(image_forms)
