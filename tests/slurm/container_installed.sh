# `cmake --install` puts the plugin in PREFIX/lib/ferry/, and a plugstack.conf
# line naming only it works: the plugin runs PREFIX/bin/ferry.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/slurm.bash"

BUILD=$(dirname "$FERRY")
[ -e "$BUILD/spank_ferry.so" ] || skip "spank_ferry.so was not built (no slurm/spank.h)"
need_fuse
cmake --install "$BUILD" --prefix "$T/inst" >/dev/null
[ -x "$T/inst/bin/ferry" ] && [ -e "$T/inst/lib/ferry/spank_ferry.so" ] || fail "cmake --install did not install ferry and the plugin"
chmod -R a+rX "$T/inst"
make_busybox_image "$T/img"
make_squashfs "$T/img" "$T/img.sqfs"
slurm_start "required $T/inst/lib/ferry/spank_ferry.so"
expect_eq "$(slurm_as_user srun -N2 -n2 --container-image="$T/img.sqfs" head -1 /etc/os-release | sort -u)" \
  'NAME="ferry test image"' "the tasks, with the installed plugin and ferry"

# A containerised batch script's srun: the installed keeper finds the
# installed relay shim (PREFIX/lib/ferry/ferry-relay-shim).
[ -x "$T/inst/lib/ferry/ferry-relay-shim" ] || fail "cmake --install did not install ferry-relay-shim"
printf '#!/bin/sh\nsrun -N1 -n1 head -1 /etc/os-release\n' >"$CLUSTER_WORK/job.sh"
chmod a+r "$CLUSTER_WORK/job.sh"
slurm_as_user sbatch --wait --container-image="$T/img.sqfs" -o "$CLUSTER_WORK/out.txt" "$CLUSTER_WORK/job.sh" >/dev/null \
  || fail "the batch job failed: $(cat "$CLUSTER_WORK/out.txt" 2>/dev/null)"
expect_eq "$(cat "$CLUSTER_WORK/out.txt")" 'NAME="ferry test image"' "the batch script's srun, installed"
