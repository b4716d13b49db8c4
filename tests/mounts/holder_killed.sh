# A mount holder that dies is replaced by the next container: kill -9 of an
# idle holder, then a new run, works and, once that holder ends, leaves no
# stale rendezvous file. A container attached to a holder that is killed
# gets one clear line and exit 125, not a hang. `ferry mounts` removes what
# a dead holder left.
. "$(dirname "$0")/../lib.sh"

need_fuse
share_setup 60
make_busybox_image "$T/img"
make_squashfs "$T/img" "$T/img.sqfs"
dir=$XDG/ferry/mounts

expect_eq "$(ferry_shared run "$T/img.sqfs" echo one)" one "first run"
key=$(holder_keys)
old=$(holders_in_proc "$key")
[ -n "$old" ] || fail "no holder after the first run"
kill -KILL "$old"
wait_gone "$old" || fail "the holder survived SIGKILL"
# What it leaves: its socket, lock and mount point.
expect_eq "$(ls "$dir" | sort | tr '\n' ' ')" "$key.lock $key.root $key.sock " "files of the killed holder"

expect_eq "$(ferry_shared run "$T/img.sqfs" echo two)" two "run after the holder was killed"
new=$(holders_in_proc "$key")
expect_eq "$(echo "$new" | wc -w)" 1 "holders after the replacement"
[ "$new" != "$old" ] || fail "the dead holder's pid answered"
out=$(ferry_shared umount "$T/img.sqfs")
expect_eq "$out" "Unmounted: $T/img.sqfs" "ferry umount"
alive "$new" && fail "the holder (pid $new) still runs after ferry umount returned"
expect_eq "$(ls -A "$dir")" "" "rendezvous files after the new holder ended"

# ferry mounts cleans up after a dead holder too.
ferry_shared run "$T/img.sqfs" true
h=$(holders_in_proc "$key")
kill -KILL "$h"
wait_gone "$h"
expect_eq "$(ferry_shared mounts --format json | tr -d ' \n')" "[]" "ferry mounts lists no dead holder"
expect_eq "$(ls -A "$dir")" "" "rendezvous files after ferry mounts"

# A container whose holder is killed under it: one line, exit 125, at once.
user_dir "$T/u"
(trap - ERR; ferry_shared run -v "$T/u:/u" "$T/img.sqfs" sh -c 'touch /u/started; sleep 30') >"$T/out" 2>"$T/err" &
pid=$!
for _ in $(seq 200); do [ -e "$T/u/started" ] && break; sleep 0.05; done
[ -e "$T/u/started" ] || fail "the container did not start"
h=$(holders_in_proc "$key")
kill -KILL "$h"
st=0
timeout 10 tail --pid="$pid" -f /dev/null || fail "ferry still runs 10 s after its holder was killed"
wait "$pid" || st=$?
expect_eq "$st" "$EXIT_FAILURE" "exit status of a container whose holder died"
expect_eq "$(cat "$T/err")" "ferry: the mount holder of this image exited (killed?); stopping the container" "message"
