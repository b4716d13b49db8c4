# The Slurm fixture works: a two-node cluster on this host runs srun steps
# and an sbatch batch job as the test user, on both nodes, and leaves no
# process of the jobs behind, nor of a job cancelled while it runs. Needs
# root and Debian's Slurm and munge.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/slurm.bash"

slurm_start
expect_eq "$(sinfo -h -N -o '%N %P %T' | sort | tr '\n' ' ')" "n1 debug* idle n2 debug* idle " "the nodes"

# srun: four tasks on two nodes, all as the test user.
out=$(slurm_as_user srun -N2 -n4 id -u)
expect_eq "$(echo "$out" | sort | uniq -c | awk '{print $1, $2}')" "4 $TEST_UID" "srun id -u"
out=$(slurm_as_user srun -N2 -n4 sh -c 'echo $SLURMD_NODENAME')
expect_eq "$(echo "$out" | sort -u | tr '\n' ' ')" "n1 n2 " "the nodes the tasks ran on"
expect_eq "$(echo "$out" | wc -l)" 4 "one line per task"
# The job runs where srun was started: the fixture's work directory.
expect_eq "$(slurm_as_user srun -N1 pwd)" "$CLUSTER_WORK" "the task's working directory"

# sbatch --wait: a batch script on two nodes with a step of its own.
cat >"$CLUSTER_WORK/job.sh" <<'EOF'
#!/bin/sh
#SBATCH -N2 -n2
#SBATCH -o job.out
echo "batch $(id -u) on $SLURMD_NODENAME"
srun sh -c 'echo "step on $SLURMD_NODENAME"' | sort
EOF
chmod a+r "$CLUSTER_WORK/job.sh"
out=$(slurm_as_user sbatch --wait --parsable job.sh) || fail "sbatch --wait: $out"
[ -f "$CLUSTER_WORK/job.out" ] || fail "no job.out after sbatch --wait (job $out)"
expect_eq "$(cat "$CLUSTER_WORK/job.out")" "batch $TEST_UID on n1
step on n1
step on n2" "the batch job's output"
expect_eq "$(stat -c %u "$CLUSTER_WORK/job.out")" "$TEST_UID" "job.out's owner"

# Nothing of these jobs remains; nor of one cancelled while it runs.
slurm_wait_no_jobs || fail "processes of the jobs remain"
slurm_as_user srun -N2 -n2 sleep 300 >"$T/cancelled.out" 2>&1 &
srun_pid=$!
for _ in $(seq 100); do
  [ "$(slurm_job_pids | xargs -r ps -o comm= -p | grep -c '^sleep$')" = 2 ] && break
  sleep 0.1
done
expect_eq "$(slurm_job_pids | xargs -r ps -o comm= -p | grep -c '^sleep$')" 2 "the sleeps of the job to cancel"
scancel --user="$TEST_USER" --quiet
st=0
wait "$srun_pid" || st=$?
[ "$st" != 0 ] || fail "srun of a cancelled job succeeded: $(cat "$T/cancelled.out")"
slurm_wait_no_jobs || fail "processes of the cancelled job remain"
echo "PASS: $TEST_NAME"
