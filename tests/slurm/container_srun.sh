# srun -N2 -n4 --container-image=IMG runs every task in the image, as the
# job's user, with its Slurm environment; the image is mounted once per
# node per step (one holder: both nodes are this host, and one user), each
# node has one container keeper, and when the job ends no ferry process and
# no ferry mount is left.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/slurm.bash"
. "$(dirname "$0")/plugin.bash"

plugin_cluster

out=$(slurm_as_user srun -N2 -n4 --container-image="$T/img.sqfs" \
  sh -c 'echo "$SLURM_PROCID $(id -u) $SLURMD_NODENAME $(head -1 /etc/os-release)"' | sort)
expect_eq "$out" "$(printf '%s\n' "0 $TEST_UID n1 NAME=\"ferry slurm image\"" "1 $TEST_UID n1 NAME=\"ferry slurm image\"" \
  "2 $TEST_UID n2 NAME=\"ferry slurm image\"" "3 $TEST_UID n2 NAME=\"ferry slurm image\"")" "what the 4 tasks print"

# While a step runs (its tasks wait at most 60 s for the test's go): its tasks share one FUSE connection, one holder
# serves it, each node has one keeper, and the tasks run without privilege.
mkdir -m 0777 "$T/go"
slurm_as_user srun -N2 -n4 --container-image="$T/img.sqfs" --container-mounts="$T/go:/go" \
  sh -c 'echo $$ >/go/task.$SLURM_PROCID; i=0; while [ ! -e /go/go ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i + 1)); done' &
job=$!
files_appear "$T/go" 4 || { touch "$T/go/go"; fail "the 4 tasks did not start"; }
tasks=$(cat "$T/go"/task.*)
expect_eq "$(fuse_devs $tasks | wc -l)" 1 "FUSE connections under the 4 tasks"
# (the test user's other holders, of other tests' images, are not this one's)
key=$(AS_USER_CWD=/ as_user "$FERRY" mounts --format json | /usr/bin/python3 -c \
  'import json,sys; print(" ".join(h["Key"] for h in json.load(sys.stdin) if h["Path"] == sys.argv[1]))' "$T/img.sqfs")
expect_eq "$(echo "$key" | wc -w)" 1 "holders of the image"
expect_eq "$(holders_in_proc "$key" | wc -w)" 1 "holder processes"
# (a keeper's own short-lived fork, starting the holder, has its command
# line too: count those whose parent is a slurmstepd; and only this
# cluster's: another test's may run beside this one)
keepers=0
for p in $(pgrep -u "$TEST_UID" -f "ferry container-keeper"); do
  grep -qzxF "SLURM_CLUSTER_NAME=$CLUSTER_NAME" "/proc/$p/environ" 2>/dev/null || continue
  [ "$(ps -o comm= -p "$(ps -o ppid= -p "$p" | tr -d ' ')")" = slurmstepd ] && keepers=$((keepers + 1))
done
expect_eq "$keepers" 2 "container keepers (one per node)"
tasks_unprivileged $tasks
touch "$T/go/go"
wait "$job" || fail "the step failed"

# Nothing of ferry outlives the job. The keepers and the holder run with
# the job's environment, so slurm_wait_no_jobs waits for them too; a mount
# lives only as long as a process in its namespace.
slurm_wait_no_jobs || fail "the job's processes did not end"
expect_eq "$(holders_in_proc "$key")" "" "the image's holder after the job"
expect_eq "$(ls -A "/tmp/ferry-$TEST_UID/mounts" | grep -c "^$key" || true)" 0 "the holder's rendezvous files"

# A cancelled step, and a step whose task crashes, leave nothing either.
rm -f "$T/go"/*
slurm_as_user srun -N2 -n2 --container-image="$T/img.sqfs" --container-mounts="$T/go:/go" \
  sh -c 'echo $$ >/go/task.$SLURM_PROCID; sleep 300' >/dev/null 2>&1 &
job=$!
files_appear "$T/go" 2 || fail "the step to cancel did not start"
_slurm_env scancel --user="$TEST_USER"
wait "$job" || true
slurm_wait_no_jobs || fail "processes left after scancel"
expect_eq "$(holders_in_proc "$key")" "" "the image's holder after scancel"

st=0
slurm_as_user srun -N1 -n1 --container-image="$T/img.sqfs" sh -c 'kill -SEGV $$' >/dev/null 2>&1 || st=$?
[ "$st" != 0 ] || fail "a crashed task's step succeeded"
slurm_wait_no_jobs || fail "processes left after a task crashed"
expect_eq "$(holders_in_proc "$key")" "" "the image's holder after a crash"
