# Containers joining a mount holder at the instant it ends: with a grace
# period of 0 s the holder ends as soon as its last container leaves, so
# eight loops of short runs keep joining holders that are ending and starting
# new ones. Every run must succeed (a joiner never keeps a holder that has
# gone), and once they are done no holder and no rendezvous file is left.
. "$(dirname "$0")/../lib.sh"

need_fuse
share_setup 0
make_busybox_image "$T/img"
make_squashfs "$T/img" "$T/img.sqfs"
mkdir -m 0777 "$T/out"

LOOPS=8
RUNS=25
pids=()
for l in $(seq $LOOPS); do
  (
    for r in $(seq $RUNS); do
      st=0
      err=$(ferry_shared run "$T/img.sqfs" true 2>&1) || st=$?
      [ "$st" = 0 ] || echo "loop $l run $r: exit $st: $err" >>"$T/out/failures"
    done
  ) &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
[ ! -e "$T/out/failures" ] || fail "runs failed: $(cat "$T/out/failures")"

for _ in $(seq 100); do
  [ -z "$(ls -A "$XDG/ferry/mounts")" ] && break
  sleep 0.1
done
expect_eq "$(ls -A "$XDG/ferry/mounts")" "" "rendezvous files left"
left=$(holders_in_proc "*" "$T/img.sqfs")
[ -z "$left" ] || fail "mount holders outlived their containers: $left"
