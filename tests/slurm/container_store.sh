# plugstack.conf store=DIR (%u: the user's name) is the store job images are
# found in and pulled into, unless the job's own FERRY_STORE names another.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/slurm.bash"
. "$(dirname "$0")/plugin.bash"

plugin_cluster "store=$T/jobstore/%u"
mkdir -m 0777 "$T/jobstore"
user_dir "$T/own"
echo site >"$T/img/version"
chmod a+r "$T/img/version"
as_user env FERRY_STORE="$T/jobstore/$TEST_USER" "$FERRY" import "dir:$T/img" t/app:1 >/dev/null
echo own >"$T/img/version"
as_user env FERRY_STORE="$T/own" "$FERRY" import "dir:$T/img" t/app:1 >/dev/null

expect_eq "$(slurm_as_user srun -N2 -n2 --container-image=t/app:1 cat /version | sort -u)" site "the site's job store"
expect_eq "$(slurm_as_user env FERRY_STORE="$T/own" srun -N1 -n1 --container-image=t/app:1 cat /version)" own \
  "the job's own FERRY_STORE"
st=0
err=$(slurm_as_user srun -N1 -n1 --container-image=t/other:1 true 2>&1) || st=$?
[ "$st" != 0 ] || fail "an image in no store ran"
slurm_wait_no_jobs || fail "the jobs' processes did not end"
