# ferry mounts lists the user's holders (image, pid, containers attached,
# requests served); ferry umount IMAGE ends an idle one and refuses a busy
# one; ferry umount --all ends every idle one. Bad input gets one line.
. "$(dirname "$0")/../lib.sh"

need_fuse
share_setup 600
make_busybox_image "$T/img"
make_squashfs "$T/img" "$T/a.sqfs"
echo b >"$T/img/b"
make_squashfs "$T/img" "$T/b.sqfs"
mkdir -m 0777 "$T/u"

expect_eq "$(ferry_shared mounts)" "$(printf '%-40s %8s  %7s  %10s  %10s  %s' IMAGE PID SINCE CONTAINERS REQUESTS PATH)" "no holders"
ferry_shared run "$T/a.sqfs" true
ferry_shared run -v "$T/u:/u" "$T/b.sqfs" sh -c 'touch /u/started; i=0; while [ ! -e /u/go ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i + 1)); done' &
job=$!
for _ in $(seq 200); do [ -e "$T/u/started" ] && break; sleep 0.05; done
[ -e "$T/u/started" ] || fail "the container did not start"

json=$(ferry_shared mounts --format json)
field() { printf '%s' "$json" | /usr/bin/python3 -c "import json,sys; print({h['Path']: h for h in json.load(sys.stdin)}[sys.argv[1]][sys.argv[2]])" "$@"; }
expect_eq "$(field "$T/a.sqfs" Containers)" 0 "containers of a (idle)"
expect_eq "$(field "$T/b.sqfs" Containers)" 1 "containers of b (running)"
[ "$(field "$T/a.sqfs" Requests)" -gt 0 ] || fail "a's holder served no requests"
pid_a=$(field "$T/a.sqfs" Pid)
expect_eq "$(holders_in_proc "$(field "$T/a.sqfs" Key)")" "$pid_a" "a's holder pid"
table=$(ferry_shared mounts)
expect_eq "$(echo "$table" | wc -l)" 3 "table lines"
expect_contains "$table" "$T/b.sqfs"

# A busy holder is not ended.
st=0
err=$(ferry_shared umount "$T/b.sqfs" 2>&1) || st=$?
expect_eq "$st" 1 "ferry umount of a busy image"
expect_eq "$err" "ferry: $T/b.sqfs: in use by 1 container; it ends by itself after they exit" "busy message"
# --all ends the idle one, leaves the busy one.
st=0
out=$(ferry_shared umount --all 2>&1) || st=$?
expect_eq "$st" 1 "ferry umount --all with a busy holder"
expect_contains "$out" "Unmounted: $T/a.sqfs"
alive "$pid_a" && fail "a's holder still runs after umount --all"
touch "$T/u/go"
wait "$job"
expect_eq "$(ferry_shared umount "$T/b.sqfs")" "Unmounted: $T/b.sqfs" "umount once idle"
expect_eq "$(ls -A "$XDG/ferry/mounts")" "" "rendezvous files"

# Bad input: one line each, exit 125.
bad() {
  local want=$1 st=0 err
  shift
  err=$(ferry_shared "$@" 2>&1) || st=$?
  expect_eq "$st" "$EXIT_FAILURE" "exit status of ferry $*"
  expect_eq "$err" "$want" "message of ferry $*"
}
bad "ferry: umount $T/a.sqfs: not mounted (no mount holder runs for it)" umount "$T/a.sqfs"
bad "ferry: umount $T/img: not mounted (no mount holder runs for it)" umount "$T/img"
bad "ferry: umount: give IMAGE or --all (not both)" umount
bad "ferry: umount: give IMAGE or --all (not both)" umount --all "$T/a.sqfs"
bad "ferry: --format: expected table or json, got 'yaml'" mounts --format yaml
printf '[mounts]\ngrace = -1\n' >"$CFG/ferry/ferry.toml"
err=$(ferry_shared run "$T/a.sqfs" true 2>&1) && fail "a negative grace was accepted"
expect_contains "$err" "ferry.toml:2:9: mounts.grace must be"
printf '[mounts]\nshare = "yes"\n' >"$CFG/ferry/ferry.toml"
err=$(ferry_shared run "$T/a.sqfs" true 2>&1) && fail "share = \"yes\" was accepted"
expect_contains "$err" "mounts.share must be true or false"
