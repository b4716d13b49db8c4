# `mpiexec -n 2 ferry run --mpi DIR`: the ranks of a directory image join
# one holder of it and so share ONE user namespace (not the host's), and
# ferry leaves UCX unrestricted (no UCX_POSIX_USE_PROC_LINK, no UCX_TLS).
# `ferry mounts` lists the holder; it ends a grace period after the last
# rank, or at once with `ferry umount DIR`. With --no-share each rank has a
# namespace of its own and the UCX restrictions are back; without --mpi no
# holder is started.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/mpi.bash"

share_setup 1
make_mpi_image "$T/img"
mkdir -m 0777 "$T/u"
at_exit 'for d in "$T"/u/*/; do touch "$d/go"; done'  # ranks left waiting by a failure

# start_ranks SUB ARG...: 2 ranks in the background ($job), each writing its
# user namespace and UCX_* variables to $T/u/SUB/RANK, then staying until
# $T/u/SUB/go exists (so both are alive at once: a namespace's number may be
# reused once it is gone). Waits until both have written.
start_ranks() {
  local sub=$1 r
  shift
  mkdir -m 0777 "$T/u/$sub"
  as_user env XDG_RUNTIME_DIR="$XDG" XDG_CONFIG_HOME="$CFG" mpiexec -n 2 "$FERRY" run "$@" -v "$T/u/$sub:/u" "$T/img" \
    sh -c '{ readlink /proc/self/ns/user; env | grep "^UCX_" | sort; } >/u/$PMI_RANK.tmp; mv /u/$PMI_RANK.tmp /u/$PMI_RANK
           i=0; while [ ! -e /u/go ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i + 1)); done' &
  job=$!
  for r in 0 1; do
    for _ in $(seq 400); do [ -e "$T/u/$sub/$r" ] && break; sleep 0.05; done
    [ -e "$T/u/$sub/$r" ] || fail "$sub: rank $r did not start"
  done
}
end_ranks() {
  touch "$T/u/$1/go"
  wait "$job" || fail "$1: mpiexec failed"
}
userns() { head -1 "$T/u/$1/$2"; }
ucx() { tail -n +2 "$T/u/$1/$2"; }

host_ns=$(as_user readlink /proc/self/ns/user)

# Shared: one namespace, the holder's, and no UCX restriction.
start_ranks shared --mpi
ns0=$(userns shared 0)
expect_eq "$(userns shared 1)" "$ns0" "user namespace of rank 1 (rank 0's)"
[ "$ns0" != "$host_ns" ] || fail "the ranks run in the host's user namespace"
expect_eq "$(ucx shared 0)$(ucx shared 1)" "" "UCX variables ferry set for ranks in one namespace"
json=$(ferry_shared mounts --format json)
field() { printf '%s' "$json" | /usr/bin/python3 -c "import json,sys; h=json.load(sys.stdin); print(len(h) == 1 and h[0][sys.argv[1]])" "$1"; }
expect_eq "$(field Kind)" directory "the holder's kind"
expect_eq "$(field Path)" "$T/img" "the holder's path"
expect_eq "$(field Containers)" 2 "containers attached to the directory's holder"
key=$(field Key)
holder=$(holders_in_proc "$key")
[ -n "$holder" ] || fail "no mount-holder process for key $key"
expect_eq "$(readlink "/proc/$holder/ns/user")" "$ns0" "the holder's user namespace"
expect_eq "$(ferry_shared mounts | awk 'NR == 2 { print $5 }')" "-" "REQUESTS of a directory's holder"
end_ranks shared
# Grace 1 s: the holder and its rendezvous files go by themselves.
wait_gone "$holder" || fail "the directory's holder (pid $holder) still runs after its grace period"
for _ in $(seq 50); do [ -z "$(ls -A "$XDG/ferry/mounts")" ] && break; sleep 0.1; done
expect_eq "$(ls -A "$XDG/ferry/mounts")" "" "rendezvous files after the holder ended"

# The ring runs over the unrestricted transports (CMA included).
out=$(as_user env XDG_RUNTIME_DIR="$XDG" XDG_CONFIG_HOME="$CFG" mpiexec -n 2 "$FERRY" run --mpi "$T/img" /app 2>&1) ||
  fail "ring through the directory's holder failed: $out"
expect_host_mpi_ranks "$out" "ring through the directory's holder"
ferry_shared umount --all >/dev/null  # the ring's holder, if still in its grace period

# --no-share: a namespace per rank, UCX told to avoid what needs one.
start_ranks private --mpi --no-share
[ "$(userns private 0)" != "$(userns private 1)" ] || fail "--no-share ranks share a user namespace"
for r in 0 1; do
  expect_eq "$(ucx private $r | tr '\n' ' ')" "UCX_POSIX_USE_PROC_LINK=n UCX_TLS=^cma " "--no-share rank $r UCX variables"
done
expect_eq "$(holder_keys)" "" "holders of --no-share ranks"
end_ranks private

# Without --mpi a directory image starts no holder.
ferry_shared run "$T/img" true
expect_eq "$(holder_keys)" "" "holders after a run without --mpi"

# ferry umount DIR ends an idle holder at once.
printf '[mounts]\ngrace = 600\n' >"$CFG/ferry/ferry.toml"
ferry_shared run --mpi "$T/img" true
key=$(holder_keys)
holder=$(holders_in_proc "$key")
[ -n "$holder" ] || fail "no holder after ferry run --mpi DIR"
expect_eq "$(ferry_shared umount "$T/img")" "Unmounted: $T/img" "ferry umount DIR"
alive "$holder" && fail "the holder still runs after ferry umount DIR"
expect_eq "$(ls -A "$XDG/ferry/mounts")" "" "rendezvous files after ferry umount DIR"
