# The image is resolved once per job and pinned: steps of a job run the
# bits its name meant when the job was submitted, even after the name moves
# to another image in the store mid-job; a new job sees the new image.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/slurm.bash"
. "$(dirname "$0")/plugin.bash"

plugin_cluster
store=$T/store
user_dir "$store"
echo v1 >"$T/img/version"
chmod a+r "$T/img/version"
as_user env FERRY_STORE="$store" "$FERRY" import "dir:$T/img" t/app:1 >/dev/null
echo v2 >"$T/img/version"
user_dir "$T/bin"
cat >"$T/bin/job.sh" <<EOS
#!/bin/sh
srun -N1 -n1 cat /version
FERRY_STORE=$store $FERRY import dir:$T/img t/app:1 >/dev/null
srun -N1 -n1 cat /version
EOS
chmod a+rx "$T/bin/job.sh"

out=$(slurm_as_user env FERRY_STORE="$store" salloc -N1 --container-image=t/app:1 "$T/bin/job.sh" 2>/dev/null)
expect_eq "$(echo "$out" | tr '\n' ' ')" "v1 v1 " "both steps of the job, the name moved between them"
expect_eq "$(slurm_as_user env FERRY_STORE="$store" srun -N1 -n1 --container-image=t/app:1 cat /version)" v2 \
  "a new job"
slurm_wait_no_jobs || fail "the jobs' processes did not end"
