# --mpi with an image whose libc.so.6 is older than the host's MPI needs (a
# stub libc that defines only GLIBC_2.2.5): one line naming the library
# and version, exit 125, and the command never runs.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/mpi.bash"

make_mpi_image "$T/img"
printf 'int ferry_old_libc;\n' >"$T/oldc.c"
printf 'GLIBC_2.2.5 { global: *; };\n' >"$T/oldc.map"
gcc -shared -fPIC -nostdlib -Wl,--version-script="$T/oldc.map" -Wl,-soname,libc.so.6 \
  -o "$T/img/lib/$MULTIARCH/libc.so.6" "$T/oldc.c"
chmod a+r "$T/img/lib/$MULTIARCH/libc.so.6"
rc=0
out=$(as_user "$FERRY" run --mpi "$T/img" /app 2>&1) || rc=$?
expect_eq "$rc" "$EXIT_FAILURE" "exit status: $out"
expect_eq "$(wc -l <<<"$out")" "1" "message lines: $out"
expect_contains "$out" "the image's glibc is older than the host MPI needs" "message"
expect_contains "$out" "defines up to GLIBC_2.2.5" "message"
case "$out" in *"rank 0"*) fail "the command ran: $out" ;; esac
