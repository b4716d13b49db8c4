# Bad input fails the step cleanly, with one line that names what is wrong,
# on the user's terminal: a missing image, a malformed option, no GPU for
# --container-gpus, an unknown MPI profile. Nothing is left
# running or mounted, and the nodes stay up.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/slurm.bash"
. "$(dirname "$0")/plugin.bash"

plugin_cluster

# fails WANT ARG...: srun ARG... fails, and its stderr has the line WANT.
fails() {
  local want=$1 st=0 err
  shift
  err=$(slurm_as_user srun -N1 -n1 "$@" 2>&1 >/dev/null) || st=$?
  [ "$st" != 0 ] || fail "srun $* succeeded"
  expect_contains "$err" "$want" "srun $*"
}
fails "error: ferry: $T/nope.sqfs: no such image (not a directory or SquashFS file)" --container-image="$T/nope.sqfs" true
# (not stored, so pulled: what fails is the pull, whatever the network says)
fails "error: ferry: 127.0.0.1:1/no/such:image: " --container-image=127.0.0.1:1/no/such:image true
fails "error: ferry: --container-mounts: 'data' is not SRC:DST[:ro|rw] with absolute paths" \
  --container-image="$T/img.sqfs" --container-mounts=data true
fails "error: ferry: --container-mounts: '$T:/x:rx' is not SRC:DST[:ro|rw] with absolute paths" \
  --container-image="$T/img.sqfs" --container-mounts="$T:/x:rx" true
fails "error: ferry: --container-workdir needs an absolute path" --container-image="$T/img.sqfs" --container-workdir=rel true
# No GPU to inject: a site whose CDI specs and driver root are empty.
mkdir -p "$T/empty"
printf '[cdi]\nspec-dirs = ["%s"]\n[gpu]\ndriver-root = "%s"\n' "$T/empty" "$T/empty" >"$T/nogpu.toml"
chmod a+rX "$T/empty" "$T/nogpu.toml"
fails "--gpus: no CDI spec provides nvidia.com/gpu and no NVIDIA driver was found" \
  --export=ALL,FERRY_SITE_CONFIG="$T/nogpu.toml" --container-image="$T/img.sqfs" --container-gpus true
fails "error: ferry: --container-mpi: 'a b' is not a profile name" --container-image="$T/img.sqfs" --container-mpi='a b' true
# (checked by the keeper on the node, before the image is looked at)
fails "no MPI profile 'nosuch'" --container-image="$T/img.sqfs" --container-mpi=nosuch true
# A mount whose source is missing fails on the node, when the container is built.
fails "volume $T/missing: source does not exist" --container-image="$T/img.sqfs" --container-mounts="$T/missing:/m" true
# A command the image lacks: the task fails, as any exec failure does.
st=0
slurm_as_user srun -N1 -n1 --container-image="$T/img.sqfs" /no/such/cmd >/dev/null 2>&1 || st=$?
[ "$st" != 0 ] || fail "a missing command succeeded"

slurm_wait_no_jobs || fail "the jobs' processes did not end"
expect_eq "$(_slurm_env sinfo -h -o %T | sort -u | tr '\n' ' ')" "idle " "node states after the failures"
# And the cluster still runs containers.
expect_eq "$(slurm_as_user srun -N2 -n2 --container-image="$T/img.sqfs" echo ok | tr '\n' ' ')" "ok ok " "a good step afterwards"
