# ferry export writes a stored image out: its SquashFS file byte for byte,
# or (--format tar) its root file system as `docker export` gives it, to a
# file (atomically) or to standard output. The tar lists like GNU tar's own,
# extracts with GNU tar and umoci, keeps hard links and symlinks, and imports
# back to the same image. Failures are one-line errors that leave nothing.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/image_fixtures.bash"

make_busybox_image "$T/rootfs"
# Top-level names given in byte order and no "./" entry, so that this tar
# holds exactly what the export below writes: the export has no entry for
# the root directory (as docker export), and an import without one gives the
# root 0755, uid 0, mtime 0; with `tar -cf - .` the root's mode, owner and
# mtime would come from "./" and the round trip could not give the same bytes.
(cd "$T/rootfs" && tar --sort=name -cf "$T/rootfs.tar" $(LC_ALL=C ls -A))
chmod a+r "$T/rootfs.tar"
user_dir "$T/store"
user_dir "$T/out"
ferry_as_user() { as_user env FERRY_STORE="$T/store" "$FERRY" "$@"; }
img() { echo "$T/store/images/${1#sha256:}.sqfs"; }
id1=$(ferry_as_user import "tar:$T/rootfs.tar" ex/img)

ferry_as_user export ex/img "$T/out/img.sqfs"
cmp "$T/out/img.sqfs" "$(img "$id1")" || fail "exported file differs from the stored one"
expect_eq "$(ls -A "$T/out")" "img.sqfs" "no temporary file left"

# --format tar: "./"-less names, depth first in byte order, the same entries,
# modes, owners, sizes, mtimes and link targets as GNU tar's tar of the tree.
ferry_as_user export --format tar ex/img "$T/out/img.tar"
expect_eq "$(ls -A "$T/out")" "img.sqfs
img.tar" "no temporary file left by the tar export"
names=$(tar -tf "$T/out/img.tar")
expect_eq "$(head -1 <<<"$names")" "bin/" "first entry"
expect_eq "$names" "$(tar -tf "$T/rootfs.tar")" "entries"
expect_eq "$(tar --numeric-owner -tvf "$T/out/img.tar")" "$(tar --numeric-owner -tvf "$T/rootfs.tar")" "tar -tv listing"
expect_contains "$(tar -tvf "$T/out/img.tar")" "bin/sh -> busybox" "symlink"
mkdir "$T/gnu"
tar -C "$T/gnu" -xf "$T/out/img.tar"
diff -r --no-dereference "$T/rootfs" "$T/gnu" >/dev/null || fail "GNU tar extracts other contents"

# Imported back, the tar gives the same SquashFS file: same tree, same bytes.
id2=$(ferry_as_user import "tar:$T/out/img.tar" ex/img2)
cmp "$(img "$id1")" "$(img "$id2")" || fail "the image changed on its way through a tar"

# To standard output it streams the same bytes.
ferry_as_user export --format tar ex/img - >"$T/stdout.tar"
cmp "$T/stdout.tar" "$T/out/img.tar" || fail "standard output differs from the file"
expect_eq "$(ferry_as_user export --format tar ex/img - | tar -t)" "$names" "piped into tar -t"

# umoci reads it as an OCI layer (the way runtimes unpack images).
if command -v umoci >/dev/null; then
  L=$T/layout
  mkdir -p "$L"
  image_config "$T/config" "$T/out/img.tar"
  oci_index "$L" "$(tagged "$(oci_manifest "$L" "$T/config" "$T/out/img.tar")" v1)"
  umoci raw unpack --rootless --image "$L:v1" "$T/umoci" >"$T/umoci.log" 2>&1 ||
    fail "umoci raw unpack failed: $(tail -1 "$T/umoci.log")"
  diff -r --no-dereference "$T/rootfs" "$T/umoci" >/dev/null || fail "umoci unpacks other contents"
fi

# A hard link and a symlink survive: the link is a tar hard link to the
# first path of the file (in the order written), the symlink keeps its target.
S=$T/small
mkdir -p "$S/a" "$S/b"
echo data >"$S/a/file"
ln "$S/a/file" "$S/b/hard"
ln -s ../a/file "$S/b/link"
mkfifo -m 0644 "$S/fifo"
chmod -R a+rX "$S"
ferry_as_user import "dir:$S" ex/small >/dev/null
ferry_as_user export --format tar ex/small "$T/out/small.tar"
expect_eq "$(tar -tf "$T/out/small.tar")" "a/
a/file
b/
b/hard
b/link
fifo" "small image entries"
list=$(tar -tvf "$T/out/small.tar")
expect_contains "$list" "b/hard link to a/file" "hard link"
expect_contains "$list" "b/link -> ../a/file" "symlink"
expect_contains "$list" "prw-r--r--" "fifo"
mkdir "$T/small.x"
tar -C "$T/small.x" -xf "$T/out/small.tar"
expect_eq "$(stat -c %i "$T/small.x/b/hard")" "$(stat -c %i "$T/small.x/a/file")" "one inode after extraction"
expect_eq "$(cat "$T/small.x/b/link")" data "symlink target"
# Imported back, this image differs from the first in one thing only: its
# root directory, whose mode, owner and mtime `dir:` took from $S and the
# tar does not carry (as docker export). Everything below the root is the
# same, so exporting it again gives the same tar, byte for byte.
ferry_as_user import "tar:$T/out/small.tar" ex/small2 >/dev/null
ferry_as_user export --format tar ex/small2 "$T/out/small2.tar"
cmp "$T/out/small.tar" "$T/out/small2.tar" || fail "tar of the re-imported image differs"

# Errors: one line naming the image; nothing left behind.
err=$(ferry_as_user export --format tar ex/img "$T/no-such-dir/img.tar" 2>&1) && fail "export to a missing directory worked"
expect_contains "$err" "ferry: export ex/img: open $T/no-such-dir/img.tar.tmp." "unwritable destination"
expect_contains "$err" ": No such file or directory" "unwritable destination"
expect_eq "$(wc -l <<<"$err")" 1 "one line"
expect_status "$EXIT_FAILURE" ferry_as_user export --format tar ex/img "$T/no-such-dir/img.tar"
err=$(ferry_as_user export ex/img - 2>&1) && fail "squashfs export to standard output worked"
expect_eq "$err" "ferry: export ex/img: export to standard output is for --format tar" "squashfs to stdout"
err=$(ferry_as_user export --format zip ex/img "$T/out/x" 2>&1) && fail "--format zip worked"
expect_eq "$err" "ferry: export ex/img: --format: expected squashfs or tar, got 'zip'" "unknown format"
err=$(ferry_as_user export nope/nope "$T/out/x" 2>&1) && fail "export of a missing name worked"
expect_eq "$err" "ferry: export nope/nope: no such image in the store (ferry images lists them)" "missing name"
expect_status "$EXIT_FAILURE" ferry_as_user export nope/nope "$T/out/x"
# A destination that cannot be written leaves nothing behind.
expect_status "$EXIT_FAILURE" ferry_as_user export ex/img "$T/no-such-dir/img.sqfs"
expect_eq "$(ls -A "$T/out")" "img.sqfs
img.tar
small.tar
small2.tar" "nothing left by the failures"
# A terminal gets no tarball (as docker export); `script` gives one.
if command -v script >/dev/null; then
  out=$(as_user env FERRY_STORE="$T/store" script -qec "$FERRY export --format tar ex/img -" /dev/null </dev/null 2>&1) &&
    fail "tar export to a terminal worked"
  expect_contains "$out" "ferry: export ex/img: refusing to write a tarball to a terminal" "terminal"
fi
