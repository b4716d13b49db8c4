# #SBATCH --container-image=IMG: srun (and the other Slurm client commands)
# inside the batch script run the host's, through the batch step's relay
# (docs/design/slurm-relay.md): its tasks start in the same image on both
# nodes as the job's user, or in another image when the srun names one;
# exit status, stdin and signals pass through (a killed srun takes its
# step with it); a name the relay does not
# run fails with one line; and after the job no relay or other ferry process
# and no ferry mount is left.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/slurm.bash"
. "$(dirname "$0")/plugin.bash"

plugin_cluster
cp -a "$T/img" "$T/img2"
printf 'NAME="second image"\n' >"$T/img2/etc/os-release"
make_squashfs "$T/img2" "$T/img2.sqfs"

cat >"$CLUSTER_WORK/job.sh" <<EOS
#!/bin/sh
#SBATCH --container-image=$T/img.sqfs
#SBATCH -N2 -n2
echo "script \$(head -1 /etc/os-release) \$(command -v srun)"
ls /.ferry/slurm
ls -d /tmp/ferry-relay-* >relay-dirs
srun -n2 sh -c 'echo "task \$SLURM_PROCID \$SLURMD_NODENAME \$(head -1 /etc/os-release) \$(id -u)"' | sort
srun -N1 -n1 sh -c 'exit 3' 2>/dev/null
echo "exit \$?"
srun -N1 -n1 --container-image=$T/img2.sqfs head -1 /etc/os-release
echo "through stdin" | srun -N1 -n1 cat
squeue -h -j "\$SLURM_JOB_ID" -o 'squeue %T'
wait_for() { i=0; while [ ! -e "\$1" ] && [ \$i -lt 600 ]; do sleep 0.1; i=\$((i + 1)); done; }
rm -f ready
srun -N1 -n1 sh -c 'trap "echo got USR1; exit 4" USR1; touch ready; while :; do sleep 0.1; done' 2>/dev/null &
pid=\$!
wait_for ready
kill -USR1 \$pid
wait \$pid
echo "signalled \$?"
rm -f started
srun -N1 -n1 sh -c 'touch started; exec sleep 300' 2>/dev/null &
pid=\$!
wait_for started
kill -KILL \$pid
i=0
while squeue -h -s -j "\$SLURM_JOB_ID" -o %i | grep -qv batch && [ \$i -lt 300 ]; do sleep 0.1; i=\$((i + 1)); done
echo "steps left after the shim was killed: \$(squeue -h -s -j "\$SLURM_JOB_ID" -o %i | grep -vc batch)"
ln -sf /.ferry/bin/srun foo
./foo -n1 true 2>&1
echo "foo \$?"
EOS
chmod a+r "$CLUSTER_WORK/job.sh"
st=0
slurm_as_user sbatch --wait -o "$CLUSTER_WORK/out.txt" "$CLUSTER_WORK/job.sh" >/dev/null || st=$?
out=$(cat "$CLUSTER_WORK/out.txt")
[ "$st" = 0 ] || fail "the job failed ($st): $out"
img='NAME="ferry slurm image"'
expect_eq "$out" "$(printf '%s\n' "script $img /.ferry/bin/srun" relay.sock \
  "task 0 n1 $img $TEST_UID" "task 1 n2 $img $TEST_UID" "exit 3" 'NAME="second image"' "through stdin" \
  "squeue RUNNING" "got USR1" "signalled 4" "steps left after the shim was killed: 0" \
  "ferry: 'foo' is not relayed to the host (srun, sbatch, scancel, squeue, sinfo, scontrol, sacct, sstat)" \
  "foo 127")" "the batch script's output"

# Nothing is left: no process of the job (slurm_wait_no_jobs finds any
# process with the job's environment, which the relay and its handlers
# have), no relay directory, no mount holder.
slurm_wait_no_jobs || fail "the job's processes (relay included) did not end"
while read -r d; do [ ! -e "$d" ] || fail "relay directory $d outlived the job"; done <"$CLUSTER_WORK/relay-dirs"
[ -s "$CLUSTER_WORK/relay-dirs" ] || fail "the job saw no relay directory in /tmp"
holders=$(AS_USER_CWD=/ as_user "$FERRY" mounts --format json | /usr/bin/python3 -c \
  'import json,sys; print(" ".join(h["Key"] for h in json.load(sys.stdin) if h["Path"] in sys.argv[1:]))' \
  "$T/img.sqfs" "$T/img2.sqfs")
expect_eq "$holders" "" "mount holders of the job's images"
