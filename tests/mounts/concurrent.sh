# 32 containers of one SquashFS image started at once share one mount
# holder: exactly one holder process and one FUSE connection exist while
# they run, ferry's own processes serve no FUSE, each container sees its own
# volume and no other's, and the holder's namespace has none of them. After
# the last one exits the holder lingers for the grace period, then exits
# with its mount and rendezvous files gone.
. "$(dirname "$0")/../lib.sh"

need_fuse
share_setup 2
make_busybox_image "$T/img"
make_squashfs "$T/img" "$T/img.sqfs"
N=32
user_dir "$T/go"
for i in $(seq $N); do user_dir "$T/v$i"; echo "$i" >"$T/v$i/id"; chmod a+r "$T/v$i/id"; done

pids=()
for i in $(seq $N); do
  ferry_shared run -v "$T/v$i:/vol" -v "$T/go:/go:ro" "$T/img.sqfs" sh -c '
    echo $$ >/vol/pid.tmp && mv /vol/pid.tmp /vol/pid
    i=0; while [ ! -e /go/go ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i + 1)); done
    { echo "$(cat /vol/id):"; ls /vol | grep -vx seen; } | tr "\n" " " >/vol/seen' &
  pids+=($!)
done
for _ in $(seq 600); do
  n=0
  for i in $(seq $N); do [ -e "$T/v$i/pid" ] && n=$((n + 1)); done
  [ $n = $N ] && break
  sleep 0.05
done
[ $n = $N ] || { touch "$T/go/go"; fail "only $n of $N containers started"; }

keys=$(holder_keys)
[ "$(echo "$keys" | wc -l)" = 1 ] || fail "ferry mounts lists $(echo "$keys" | wc -l) holders: $keys"
holders=$(holders_in_proc "$keys")
expect_eq "$(echo "$holders" | wc -w)" 1 "holder processes of the image in /proc"
cpids=()
for i in $(seq $N); do cpids+=("$(cat "$T/v$i/pid")"); done
devs=$(fuse_devs "$holders" "${cpids[@]}")
expect_eq "$(echo "$devs" | wc -w)" 1 "FUSE connections seen by the holder and the $N containers"
# Only the holder has /dev/fuse open; no ferry of a container serves FUSE.
for c in "${cpids[@]}"; do
  p=$(ps -o ppid= -p "$c" | tr -d ' ')  # the container's parent: its ferry
  [ -n "$p" ] || fail "container $c has no parent"
  if has_fuse_fd "$p"; then fail "ferry (pid $p) has /dev/fuse open"; fi
done
has_fuse_fd "$holders" || fail "the holder has no /dev/fuse open"
# Each container's volume is in its own namespace, none in the holder's.
if grep -q " /vol " "/proc/$holders/mountinfo"; then fail "a container's volume is in the holder's namespace"; fi
for i in 1 17 32; do
  p=$(cat "$T/v$i/pid")
  expect_eq "$(awk '$5 == "/vol"' "/proc/$p/mountinfo" | wc -l)" 1 "container $i's /vol mounts"
done
expect_contains "$(ferry_shared mounts)" "$T/img.sqfs"
expect_eq "$(ferry_shared mounts --format json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["Containers"])')" "$N" "containers attached"

touch "$T/go/go"
for i in "${!pids[@]}"; do
  wait "${pids[$i]}" || fail "container $((i + 1)) failed"
done
for i in $(seq $N); do
  expect_eq "$(cat "$T/v$i/seen")" "$i: id pid " "what container $i saw in /vol"
done
# Still there during the grace period (2 s), gone after it.
kill -0 "$holders" || fail "the holder ended before its grace period"
wait_gone "$holders" 100 || fail "the holder (pid $holders) outlived its grace period"
expect_eq "$(ls -A "$XDG/ferry/mounts")" "" "rendezvous files left"
expect_eq "$(ferry_shared mounts --format json | tr -d ' \n')" "[]" "ferry mounts after the grace period"
