# A registry reference not in the store is pulled once per job, at
# submission, not once per node or task: srun -N2 -n4 asks the registry for
# the manifest once, and every task runs the pulled image. A second job
# finds it stored and asks nothing.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../registry/registry.bash"
. "$(dirname "$0")/../registry/pull_lib.bash"
. "$(dirname "$0")/slurm.bash"
. "$(dirname "$0")/plugin.bash"

plugin_cluster
registry_with_busybox "$T/reg" plain
user_dir "$T/store"
mkdir -p "$T/cfg/ferry"
printf '[registries."%s"]\ninsecure = true\n' "$REGISTRY" >"$T/cfg/ferry/ferry.toml"
chmod -R a+rX "$T/cfg"
job() { slurm_as_user env FERRY_STORE="$T/store" XDG_CONFIG_HOME="$T/cfg" srun "$@"; }

expect_eq "$(job -N2 -n4 --container-image="$REGISTRY/test/busybox:v1" cat /etc/hello | sort | uniq -c | tr -s ' ')" \
  " 4 v1" "the 4 tasks"
expect_eq "$(manifest_gets "$REGISTRY_LOG")" 1 "manifest GETs for one job of 4 tasks on 2 nodes"
expect_eq "$(job -N2 -n2 --container-image="$REGISTRY/test/busybox:v1" cat /etc/hello | sort -u)" v1 "a second job"
expect_eq "$(manifest_gets "$REGISTRY_LOG")" 1 "manifest GETs after a second job"
slurm_wait_no_jobs || fail "the jobs' processes did not end"
