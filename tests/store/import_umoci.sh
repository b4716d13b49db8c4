# ferry's image of an OCI layout holds the same paths, types, modes, owners,
# link targets and file contents as Debian's umoci unpacks from it
# (`umoci raw unpack --rootless`), layer rules included: whiteouts, an
# opaque directory, a file replaced by a directory, hard links, gzip and
# plain layers (Debian's umoci 0.4.7 does not read zstd layers).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/image_fixtures.bash"
command -v umoci >/dev/null || skip "umoci is not installed (tools/deps.txt lists it)"
command -v unsquashfs >/dev/null || skip "squashfs-tools is not installed"

two_layer_trees "$T/t" umoci
B=$T/t/base
mkdir -p "$B/opt/keep" "$B/opt/gone" "$B/swap"
echo a >"$B/opt/keep/a"
echo b >"$B/opt/gone/b"
echo file >"$B/swap/was-file"
ln "$B/etc/passwd" "$B/etc/passwd.hard"
M=$T/t/middle
mkdir -p "$M/opt/gone" "$M/swap/was-file" "$M/usr/bin"
: >"$M/opt/gone/.wh..wh..opq"
echo new >"$M/opt/gone/new"
echo dir >"$M/swap/was-file/inside"
ln "$T/t/base/etc/os-release" "$M/usr/bin/os-release.hard" 2>/dev/null || cp "$B/etc/os-release" "$M/usr/bin/os-release.hard"
chmod -R a+rX "$T/t"
layer_tar "$B" "$T/l1.tar.gz" gzip
layer_tar "$M" "$T/l2.tar.gz" gzip
layer_tar "$T/t/top" "$T/l3.tar" none
image_config "$T/config" "$T/l1.tar.gz" "$T/l2.tar.gz" "$T/l3.tar"
L=$T/layout
mkdir -p "$L"
oci_index "$L" "$(tagged "$(oci_manifest "$L" "$T/config" "$T/l1.tar.gz" "$T/l2.tar.gz" "$T/l3.tar")" v1)"
chmod -R a+rX "$T"
store="$T/store"
user_dir "$store"
id=$(as_user env FERRY_STORE="$store" "$FERRY" import "oci:$L:v1" test/umoci)
unsquashfs -q -d "$T/ferry" "$store/images/${id#sha256:}.sqfs" >/dev/null
umoci raw unpack --rootless --image "$L:v1" "$T/umoci" >"$T/umoci.log" 2>&1 || fail "umoci raw unpack failed: $(tail -1 "$T/umoci.log")"

# path, type, permissions, size, link target (the fixture is a+rX, no setuid, as ferry makes it)
listing() {
  (cd "$1" && find . -mindepth 1 -printf '%p %y %m %s %l\n' | sort)
}
expect_eq "$(listing "$T/ferry")" "$(listing "$T/umoci")" "ferry and umoci file lists"
diff -r --no-dereference "$T/ferry" "$T/umoci" >/dev/null || fail "file contents differ from umoci's"
[ ! -e "$T/ferry/opt/gone/b" ] || fail "opaque directory ignored"
