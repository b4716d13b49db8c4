# `srun --mpi=pmi2 --container-image=IMAGE --container-mpi /app`: the keeper
# runs with --mpi, so both tasks of the step run the ring program on the
# host's libmpich (by device and inode in /proc/self/maps, and its version)
# instead of the image's stub, talk to each other through Slurm's PMI-2
# (each rank sees the other: checksum 40, not a singleton's 0), and agree on
# the checksum. Without --container-mpi the same image runs its stub.
# (Debian's MPICH 4.0.2 speaks PMI-2 to Slurm 22.05's mpi/pmi2 as is.)
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/slurm.bash"
. "$(dirname "$0")/plugin.bash"
. "$(dirname "$0")/../hpc/mpi.bash"

plugin_cluster
make_mpi_image "$T/mpi"
make_squashfs "$T/mpi" "$T/mpi.sqfs"
run2() { slurm_as_user srun --mpi=pmi2 -N1 -n2 --container-image="$T/mpi.sqfs" "$@"; }

# Without --container-mpi: the image's own MPI, recognisably the stub.
out=$(run2 /app 2>&1 || true)
expect_contains "$out" "version FERRY-STUB-MPI" "without --container-mpi"
expect_contains "$out" "communication failed" "without --container-mpi"

# 10 rounds: rank 0 adds 1, rank 1 adds 1, per round: token 20 on both.
for opt in --container-mpi --container-mpi=mpich; do
  out=$(run2 "$opt" /app 2>&1) || fail "$opt: srun failed: $out"
  expect_host_mpi_ranks "$out" "$opt"
done
slurm_wait_no_jobs || fail "the jobs' processes did not end"
