# `mpiexec -n 2 ferry run --mpi IMAGE /app`: the image's stub libmpich.so.12
# (found through the image's own ld.so.cache) is replaced by the host's,
# which /proc/self/maps inside shows by its device and inode; both ranks
# exchange messages around a ring and agree on the checksum. Without
# --mpi the same image runs its own stub. Directory and SquashFS images,
# with and without --cleanenv (PMI_* still passed).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/mpi.bash"

make_mpi_image "$T/img"
forms=("dir $T/img")
if command -v mksquashfs >/dev/null && [ -c /dev/fuse ]; then
  need_fuse
  make_squashfs "$T/img" "$T/img.sqfs"
  forms+=("sqfs $T/img.sqfs")
fi
stub_sum=$(sha256sum <"$T/img/opt/mpi/lib/libmpich.so.12.0")

# Without --mpi: the image's own MPI, recognisably the stub.
out=$(as_user "$FERRY" run "$T/img" /app 2>&1 || true)
expect_contains "$out" "version FERRY-STUB-MPI" "without --mpi"
expect_contains "$out" "communication failed" "without --mpi"

# 10 rounds: rank 0 adds 1, rank 1 adds 1, per round: token 20 on both.
for f in "${forms[@]}"; do
  read -r form img <<<"$f"
  for env_opt in "" --cleanenv; do
    what="$form ${env_opt:-host-env}"
    out=$(as_user mpiexec -n 2 "$FERRY" run $env_opt --mpi "$img" /app 2>&1) || fail "$what: mpiexec failed: $out"
    expect_host_mpi_ranks "$out" "$what"
  done
done
# The image itself is unchanged.
expect_eq "$(sha256sum <"$T/img/opt/mpi/lib/libmpich.so.12.0")" "$stub_sum" "image's stub after the runs"

# A volume the user binds where the image's MPI library is wins over the
# host library --mpi would bind there (user volumes replace edits).
echo user-lib >"$T/user.so"
chmod a+r "$T/user.so"
expect_eq "$(as_user "$FERRY" run --mpi -v "$T/user.so:/opt/mpi/lib/libmpich.so.12.0:ro" "$T/img" \
  cat /opt/mpi/lib/libmpich.so.12.0)" "user-lib" "a user volume over the image's libmpich"
