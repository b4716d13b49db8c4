# plugstack.conf kernel-mount=yes: slurmstepd mounts a step's SquashFS image
# with the kernel's driver (a read-only autoclear loop device), once per
# node and step, and no FUSE holder runs. The tasks still run as the user,
# with NO_NEW_PRIVS and no capabilities, in a ro,nosuid,nodev root. The
# node keeps no mount of it once the container is built; when the step
# ends (also cancelled, or failing) no loop device, mount, /run/ferry
# directory or ferry process is left. A file the user may not read is
# never mounted; an image the kernel rejects fails the step with one line;
# a bad kernel-mount= value is one clear error.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/slurm.bash"
. "$(dirname "$0")/plugin.bash"

grep -qw squashfs /proc/filesystems || skip "the kernel has no squashfs file system loaded"
[ -e /dev/loop-control ] || skip "no /dev/loop-control"

plugin_cluster kernel-mount=yes

# image_loops: the loop devices whose backing file is one of this test's.
image_loops() {
  local f
  for f in /sys/block/loop*/loop/backing_file; do
    grep -qs "^$T/" "$f" && echo "${f%/loop/backing_file}"
  done
  return 0
}

# root_devs PID...: the distinct root mounts (device numbers) the processes
# see: one per container.
root_devs() { mount_devs '$5 == "/"' "$@"; }

# host_mounts: the host's mounts of ferry's step images (under /run/ferry,
# or squashfs on a loop device of this test's files; not a host's own
# squashfs mounts, such as snaps).
host_mounts() {
  local l n=0
  n=$(grep -c -e ' /run/ferry/' /proc/self/mountinfo || true)
  for l in $(image_loops); do n=$((n + $(grep -c " /dev/${l##*/} " /proc/self/mountinfo || true))); done
  echo "$n"
}

# nothing_left WHAT [JOBID...]: no loop device on this test's files, no
# squashfs mount on the host, no step directory of the jobs in /run/ferry
# (the loop device and the namespace's mounts go a moment after the last
# process: up to 5 s).
nothing_left() {
  local what=$1 j
  shift
  for _ in $(seq 100); do [ -z "$(image_loops)" ] && break; sleep 0.05; done
  expect_eq "$(image_loops)" "" "loop devices $what"
  expect_eq "$(host_mounts)" 0 "host squashfs mounts $what"
  for j in "$@"; do
    expect_eq "$(ls -d /run/ferry/"$j".* 2>/dev/null || true)" "" "step directories of job $j $what"
  done
}

out=$(slurm_as_user srun -N2 -n4 --container-image="$T/img.sqfs" \
  sh -c 'echo "$SLURM_PROCID $(id -u) $(head -1 /etc/os-release)"' | sort)
expect_eq "$out" "$(printf '%s\n' "0 $TEST_UID NAME=\"ferry slurm image\"" "1 $TEST_UID NAME=\"ferry slurm image\"" \
  "2 $TEST_UID NAME=\"ferry slurm image\"" "3 $TEST_UID NAME=\"ferry slurm image\"")" "what the 4 tasks print"

# While a step runs: each node's tasks share one container, the two nodes
# have two, on two read-only loop devices (one kernel mount each: the
# image is the bottom layer of the container's root, out of sight in its
# mountinfo); the container's root (ferry's own mount over the image, the
# one a task's mountinfo shows) is ro, nosuid, nodev; no FUSE; no privilege.
mkdir -m 0777 "$T/go"
slurm_as_user srun -N2 -n4 --container-image="$T/img.sqfs" --container-mounts="$T/go:/go" \
  sh -c 'echo "$$ $SLURMD_NODENAME $SLURM_JOB_ID" >/go/task.$SLURM_PROCID
         i=0; while [ ! -e /go/go ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i + 1)); done' &
job=$!
files_appear "$T/go" 4 || { touch "$T/go/go"; fail "the 4 tasks did not start"; }
tasks=$(cut -d' ' -f1 "$T/go"/task.*)
jobid=$(cut -d' ' -f3 "$T/go/task.0")
for n in n1 n2; do
  expect_eq "$(root_devs $(awk -v n=$n '$2 == n {print $1}' "$T/go"/task.*) | wc -l)" 1 "containers on $n"
done
expect_eq "$(root_devs $tasks | wc -l)" 2 "containers of the step"
expect_eq "$(image_loops | wc -l)" 2 "loop devices of the step"
for l in $(image_loops); do
  expect_eq "$(cat "$l/loop/backing_file")" "$T/img.sqfs" "backing file of $l"
  expect_eq "$(cat "$l/ro")" 1 "$l read-only"
  expect_eq "$(cat "$l/loop/autoclear")" 1 "$l autoclear"
done
t1=$(echo $tasks | cut -d' ' -f1)
opts=$(awk '$5 == "/" {print $6}' "/proc/$t1/mountinfo" | head -1)
for o in ro nosuid nodev; do
  case ",$opts," in *",$o,"*) ;; *) fail "the container's root is not $o: $opts" ;; esac
done
expect_eq "$(fuse_devs $tasks | wc -l)" 0 "FUSE connections under the tasks"
holders=0
for p in $(pgrep -u "$TEST_UID" -f "ferry mount-holder"); do
  grep -qzxF "SLURM_CLUSTER_NAME=$CLUSTER_NAME" "/proc/$p/environ" 2>/dev/null && holders=$((holders + 1))
done
expect_eq "$holders" 0 "mount holders"
# The node's own mount is gone once the keepers built their containers.
expect_eq "$(host_mounts)" 0 "host mounts during the step"
expect_eq "$(ls -d /run/ferry/"$jobid".* 2>/dev/null || true)" "" "step directories during the step"
tasks_unprivileged $tasks
touch "$T/go/go"
wait "$job" || fail "the step failed"
slurm_wait_no_jobs || fail "the job's processes did not end"
nothing_left "after the job" "$jobid"

# A cancelled step, and a step whose task crashes, leave nothing either.
rm -f "$T/go"/*
slurm_as_user srun -N2 -n2 --container-image="$T/img.sqfs" --container-mounts="$T/go:/go" \
  sh -c 'echo "$$ $SLURMD_NODENAME $SLURM_JOB_ID" >/go/task.$SLURM_PROCID; sleep 300' >/dev/null 2>&1 &
job=$!
files_appear "$T/go" 2 || fail "the step to cancel did not start"
expect_eq "$(image_loops | wc -l)" 2 "loop devices of the step to cancel"
jobid=$(cut -d' ' -f3 "$T/go/task.0")
_slurm_env scancel --user="$TEST_USER"
wait "$job" || true
slurm_wait_no_jobs || fail "processes left after scancel"
nothing_left "after scancel" "$jobid"

st=0
slurm_as_user srun -N1 -n1 --container-image="$T/img.sqfs" sh -c 'kill -SEGV $$' >/dev/null 2>&1 || st=$?
[ "$st" != 0 ] || fail "a crashed task's step succeeded"
slurm_wait_no_jobs || fail "processes left after a task crashed"
nothing_left "after a crash"

# fails WANT ARG...: srun ARG... (as the user, with the environment before
# it) fails, and its stderr has the line WANT.
fails() {
  local want=$1 st=0 err
  shift
  err=$(slurm_as_user "$@" 2>&1 >/dev/null) || st=$?
  [ "$st" != 0 ] || fail "$* succeeded"
  expect_contains "$err" "$want" "$*"
}

# A file the user may not read is never mounted, even when the job's
# environment pins the step to it (it is the user's to set).
install -m 0600 -o root -g root "$T/img.sqfs" "$T/secret.sqfs"
fails "error: ferry: $T/secret.sqfs: cannot open the image as uid $TEST_UID: Permission denied" \
  env FERRY_CONTAINER_IMAGE="$T/img.sqfs" FERRY_CONTAINER_IMAGE_PINNED="$T/secret.sqfs" \
  srun -N1 -n1 --container-image="$T/img.sqfs" true
# A truncated image (its superblock intact) the kernel rejects; random
# bytes (no superblock) are not mounted at all: ferry's own check fails them.
head -c 4096 "$T/img.sqfs" >"$T/cut.sqfs"
head -c 4096 /dev/urandom >"$T/junk.sqfs"
chmod a+r "$T/cut.sqfs" "$T/junk.sqfs"
fails "error: ferry: $T/cut.sqfs: the kernel's SquashFS driver rejects the image (mount: Invalid argument)" \
  env FERRY_CONTAINER_IMAGE="$T/cut.sqfs" FERRY_CONTAINER_IMAGE_PINNED="$T/cut.sqfs" \
  srun -N1 -n1 --container-image="$T/cut.sqfs" true
fails "error: ferry: $T/junk.sqfs: " srun -N1 -n1 --container-image="$T/junk.sqfs" true
slurm_wait_no_jobs || fail "processes left after the failures"
nothing_left "after the failures"
expect_eq "$(_slurm_env sinfo -h -o %T | sort -u | tr '\n' ' ')" "idle " "node states after the failures"

# A bad value: one clear line, from srun already (slurmd, which reads the
# file at its start, refuses to start with the same line in its log).
echo "required $PLUGIN ferry=$FERRY kernel-mount=maybe" >"$CLUSTER_PLUGSTACK"
fails "ferry: plugstack.conf: kernel-mount must be yes or no, got 'maybe'" \
  srun -N1 -n1 --container-image="$T/img.sqfs" true
