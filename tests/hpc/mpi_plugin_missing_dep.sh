# A module in a profile's plugin directory that the host's loader could not
# load either (it needs a library the node lacks, as a CUDA transport does
# on a node without libcuda) is left out: --mpi still works, and the
# module's missing dependency is not asked of the image.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/mpi.bash"

make_mpi_image "$T/img"
# Not under /tmp: binds an image inspector adds are opened after ferry's
# staging tmpfs covers the host's /tmp (container_spec.hpp, ImageInspector).
P=$(mktemp -d /var/tmp/ferry-test-plugins.XXXXXX)
at_exit 'rm -rf "$P"'
chmod 0755 "$P"
mkdir -p "$P/plugins" "$T/gone"
echo 'int gone(void) { return 1; }' >"$T/gone.c"
gcc -shared -fPIC -Wl,-soname,libferrygone.so.1 -o "$T/gone/libferrygone.so.1" "$T/gone.c"
echo 'int gone(void); int use(void) { return gone(); }' >"$T/mod.c"
gcc -shared -fPIC -o "$P/plugins/libuct_ferrytest.so.0" "$T/mod.c" -L"$T/gone" -l:libferrygone.so.1
rm -r "$T/gone"
chmod -R a+rX "$P/plugins"

cfg=$T/cfg
user_dir "$cfg/ferry"
printf '[mpi.test]\nlibraries = ["%s"]\nplugin-dirs = ["%s"]\n' "$HOST_MPICH" "$P/plugins" >"$cfg/ferry/ferry.toml"
out=$(as_user env XDG_CONFIG_HOME="$cfg" "$FERRY" --debug run --mpi=test "$T/img" sh -c 'echo RAN' 2>&1) ||
  fail "--mpi refused over a plugin it should leave out: $out"
expect_contains "$out" "RAN" "the command ran"
expect_contains "$out" "plugin $P/plugins/libuct_ferrytest.so.0 left out" "the debug line names the module"
