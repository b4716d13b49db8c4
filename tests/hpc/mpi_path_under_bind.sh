# --mpi binds the host's MPI where the image's loader would find its own. A
# place the image names below one of the container's other mounts (here
# LD_LIBRARY_PATH=/tmp/X in its config, /tmp being the host's) is not the
# image's file once that mount is in place: it is left out, and no mount
# point is made for it in the host's /tmp. The library the image's
# ld.so.cache names is still replaced.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/mpi.bash"

make_mpi_image "$T/img"
u=ferry-mpi-$(basename "$T")
mkdir -p "$T/img/tmp/$u"
cp "$T/img/opt/mpi/lib/libmpich.so.12.0" "$T/img/tmp/$u/libmpich.so.12"
echo "{\"config\":{\"Env\":[\"LD_LIBRARY_PATH=/tmp/$u\"]}}" >"$T/img.config.json"
at_exit "rm -rf '/tmp/$u'"

out=$(as_user mpiexec -n 2 "$FERRY" run --mpi "$T/img" /app 2>&1) || fail "mpiexec failed: $out"
expect_host_mpi_ranks "$out" "LD_LIBRARY_PATH under /tmp"
[ ! -e "/tmp/$u" ] || fail "a mount point was made in the host's /tmp: $(find "/tmp/$u")"
