# --mpi with an image that has no MPICH-ABI library: one line saying so,
# exit 125, and the command never runs (no silent fallback).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/mpi.bash"

make_busybox_image "$T/img"
rc=0
out=$(as_user "$FERRY" run --mpi "$T/img" sh -c 'echo RAN' 2>&1) || rc=$?
expect_eq "$rc" "$EXIT_FAILURE" "exit status"
expect_eq "$(wc -l <<<"$out")" "1" "message lines: $out"
expect_contains "$out" "has no MPICH-ABI library (libmpich.so.12 or libmpi.so.12)" "message"
case "$out" in *RAN*) fail "the command ran" ;; esac

# An unknown profile is one line too.
rc=0
out=$(as_user "$FERRY" run --mpi=nosuch "$T/img" true 2>&1) || rc=$?
expect_eq "$rc" "$EXIT_FAILURE" "unknown profile exit status"
expect_contains "$out" "no MPI profile 'nosuch'" "unknown profile message"
