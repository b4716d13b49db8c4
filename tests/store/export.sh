# ferry export writes a stored image's SquashFS file out, byte for byte and
# atomically; unsupported forms and missing names are one-line errors.
. "$(dirname "$0")/../lib.sh"

make_busybox_image "$T/rootfs"
tar -C "$T/rootfs" -cf "$T/rootfs.tar" .
chmod a+r "$T/rootfs.tar"
user_dir "$T/store"
user_dir "$T/out"
ferry_as_user() { as_user env FERRY_STORE="$T/store" "$FERRY" "$@"; }
ferry_as_user import "tar:$T/rootfs.tar" ex/img >/dev/null

ferry_as_user export ex/img "$T/out/img.sqfs"
cmp "$T/out/img.sqfs" "$(ls "$T"/store/images/*.sqfs)" || fail "exported file differs from the stored one"
expect_eq "$(ls -A "$T/out")" "img.sqfs" "no temporary file left"

err=$(ferry_as_user export --format tar ex/img "$T/out/img.tar" 2>&1) && fail "tar export claimed to work"
expect_eq "$err" "ferry: export ex/img: --format tar is not supported yet (squashfs is)" "tar message"
[ ! -e "$T/out/img.tar" ] || fail "a refused export left a file"
err=$(ferry_as_user export nope/nope "$T/out/x" 2>&1) && fail "export of a missing name worked"
expect_eq "$err" "ferry: export nope/nope: no such image in the store (ferry images lists them)" "missing name"
expect_status "$EXIT_FAILURE" ferry_as_user export nope/nope "$T/out/x"
# A destination that cannot be written leaves nothing behind.
expect_status "$EXIT_FAILURE" ferry_as_user export ex/img "$T/no-such-dir/img.sqfs"
