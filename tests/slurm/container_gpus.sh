# srun --container-gpus: the keeper injects the GPUs Slurm gave the step
# (ferry run --gpus=all over SLURM_STEP_GPUS), through the site's CDI spec
# for nvidia.com/gpu; each task keeps the CUDA_VISIBLE_DEVICES Slurm set for
# it. The GPUs are fake (character devices made here, GRES gpu with File=);
# the cluster runs in gpu.bash's private mount namespace, whose /dev has
# placeholders for them.
. "$(dirname "$0")/../hpc/gpu.bash"
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/slurm.bash"
. "$(dirname "$0")/plugin.bash"

gpu_nodes "$T/devs" nvidia0 nvidia1
gpu_dev nvidia0 nvidia1
mkdir -p "$T/cdi"
cat >"$T/cdi/gpu.yaml" <<YAML
cdiVersion: 0.6.0
kind: nvidia.com/gpu
devices:
  - name: "0"
    containerEdits:
      deviceNodes: [{path: /dev/nvidia0, hostPath: "$T/devs/nvidia0"}]
      env: [FAKE_GPU0=yes]
  - name: "1"
    containerEdits:
      deviceNodes: [{path: /dev/nvidia1, hostPath: "$T/devs/nvidia1"}]
      env: [FAKE_GPU1=yes]
containerEdits:
  env: [FAKE_DRIVER=cdi]
YAML
printf '[cdi]\nspec-dirs = ["%s"]\n' "$T/cdi" >"$T/site.toml"
chmod -R a+rX "$T/cdi" "$T/site.toml"

CLUSTER_GPU_FILES="$T/devs/nvidia[0-1]" CLUSTER_GPUS=2 plugin_cluster

# What a task sees: its GPU variables, the spec's env, and which fake GPUs
# are character devices in the container.
cat >"$T/probe.sh" <<'SH'
#!/bin/sh
nodes=''
for n in 0 1; do test -c /dev/nvidia$n && nodes="$nodes$n"; done
echo "task $SLURM_PROCID cuda=$CUDA_VISIBLE_DEVICES driver=$FAKE_DRIVER gpu0=${FAKE_GPU0:-no} gpu1=${FAKE_GPU1:-no} nodes=$nodes $(head -1 /etc/os-release)"
SH
chmod 0755 "$T/probe.sh"
run() { slurm_as_user env FERRY_SITE_CONFIG="$T/site.toml" srun "$@" --container-image="$T/img.sqfs" \
  --container-mounts="$T/probe.sh:/probe.sh:ro" /probe.sh 2>&1; }

# One GPU of a node: that one is injected (by its global id, 0: the first
# free), the other stays a placeholder.
expect_eq "$(run -N1 -n1 --gpus=1 --container-gpus)" \
  'task 0 cuda=0 driver=cdi gpu0=yes gpu1=no nodes=0 NAME="ferry slurm image"' "one GPU"

# Hold GPU 0 of each node with one job: the next step gets GPU 1, as Slurm
# says, by its global id.
slurm_as_user sbatch -N2 --gpus-per-node=1 -o /dev/null --wrap 'sleep 60' >/dev/null
for _ in $(seq 50); do [ "$(squeue -h -t R | wc -l)" = 1 ] && break; sleep 0.2; done
expect_eq "$(run -N1 -n1 --gpus=1 --container-gpus)" \
  'task 0 cuda=1 driver=cdi gpu0=no gpu1=yes nodes=1 NAME="ferry slurm image"' "the second GPU, by its id"
scancel --full "$(squeue -h -o %i | head -1)"
slurm_wait_no_jobs || fail "the holding job did not end"

# Two tasks, a GPU each (--gpus-per-task): both GPUs are in the container,
# and each task keeps its own CUDA_VISIBLE_DEVICES.
out=$(run -N1 -n2 --gpus-per-task=1 --container-gpus | sort)
expect_eq "$out" "$(printf '%s\n' \
  'task 0 cuda=0 driver=cdi gpu0=yes gpu1=yes nodes=01 NAME="ferry slurm image"' \
  'task 1 cuda=1 driver=cdi gpu0=yes gpu1=yes nodes=01 NAME="ferry slurm image"')" "a GPU per task"

# Without --container-gpus nothing is injected.
expect_eq "$(run -N1 -n1 --gpus=1)" \
  'task 0 cuda=0 driver= gpu0=no gpu1=no nodes= NAME="ferry slurm image"' "no --container-gpus"

slurm_wait_no_jobs || fail "processes of the jobs remain"
