# #SBATCH --container-image=IMG runs the batch script itself in the image,
# as the job's user, with the image pinned for the job in its environment.
# (srun inside the script runs the host's through the batch step's relay:
# tests/slurm/container_batch_srun.sh.)
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/slurm.bash"
. "$(dirname "$0")/plugin.bash"

plugin_cluster

cat >"$CLUSTER_WORK/job.sh" <<EOS
#!/bin/sh
#SBATCH --container-image=$T/img.sqfs
#SBATCH -N1 -n1
head -1 /etc/os-release
id -u
echo "\$FERRY_CONTAINER_IMAGE_PINNED"
test -e /probe && echo probe
EOS
chmod a+r "$CLUSTER_WORK/job.sh"
slurm_as_user sbatch --wait -o "$CLUSTER_WORK/out.txt" "$CLUSTER_WORK/job.sh" >/dev/null
expect_eq "$(cat "$CLUSTER_WORK/out.txt")" "$(printf '%s\n' 'NAME="ferry slurm image"' "$TEST_UID" "$T/img.sqfs" probe)" "the batch script's output"

# A failing container fails the job (and says why in its output file).
sed -i "s|^#SBATCH -N1 -n1|#SBATCH --container-mounts=$T/missing:/m|" "$CLUSTER_WORK/job.sh"
st=0
slurm_as_user sbatch --wait -o "$CLUSTER_WORK/out2.txt" "$CLUSTER_WORK/job.sh" >/dev/null 2>&1 || st=$?
[ "$st" != 0 ] || fail "a job whose container cannot start succeeded"
if grep -q "ferry slurm image" "$CLUSTER_WORK/out2.txt" 2>/dev/null; then fail "the script ran"; fi
slurm_wait_no_jobs || fail "the jobs' processes did not end"
