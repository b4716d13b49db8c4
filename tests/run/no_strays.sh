# When the command exits, ferry kills every process it left behind
# (background jobs, setsid daemons) before returning the command's status,
# and reaps orphans that exit while the command runs (no zombies).
. "$(dirname "$0")/../lib.sh"

user_dir "$T/u"

# Unique sleep lengths, so that pgrep sees only this test's processes.
a=300$$ b=301$$

while read -r form img; do
  # The container waits until both strays are really running `sleep`, then exits 5.
  script="sleep $a & p=\$!; setsid sleep $b & q=\$!
    until [ \"\$(cat /proc/\$p/comm)\" = sleep ] && [ \"\$(cat /proc/\$q/comm)\" = sleep ]; do sleep 0.02; done
    exit 5"
  expect_status 5 as_user "$FERRY" run "$img" sh -c "$script"
  left=$(pgrep -u "$TEST_UID" -xf "sleep ($a|$b)" || true)
  if [ -n "$left" ]; then
    msg=$(ps -o pid=,stat=,args= -p "$(echo $left | tr ' ' ,)")
    kill -KILL $left 2>/dev/null || true
    fail "$form: processes left behind: $msg"
  fi

  # An orphan that exits while the command still runs: ferry, its new
  # parent, reaps it. The command reports a zombie with exit 99.
  script="(sleep 0.01 & echo \$! >/u/orphan-$form)
    o=\$(cat /u/orphan-$form); i=0
    while [ -e /proc/\$o ]; do
      i=\$((i + 1)); [ \$i -lt 250 ] || { grep -E '^(State|PPid)' /proc/\$o/status; exit 99; }
      sleep 0.02
    done
    exit 0"
  expect_status 0 as_user "$FERRY" run -v "$T/u:/u" "$img" sh -c "$script"
done < <(image_forms)
