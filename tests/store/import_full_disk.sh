# A store on a full file system: the import fails with one line naming the
# cause, and the store is left exactly as it was (no image, no blob, nothing
# in tmp/, the index unchanged). Needs root to mount a small tmpfs.
. "$(dirname "$0")/../lib.sh"
need_fuse
[ "$(id -u)" = 0 ] || skip "needs root to mount a small tmpfs"

make_busybox_image "$T/rootfs"
tar -C "$T/rootfs" -czf "$T/rootfs.tar.gz" .
head -c 3000000 /dev/urandom >"$T/rootfs/noise"  # incompressible: the image outgrows the disk
tar -C "$T/rootfs" -czf "$T/big.tar.gz" .
chmod a+r "$T/rootfs.tar.gz" "$T/big.tar.gz"
small_store 4m

# A small image fits; then one that does not.
out=$(ferry_as_user import "tar:$T/rootfs.tar.gz" small/bb:1 2>&1) || fail "the small import failed: $out"
snapshot() { (cd "$store" && find . -printf '%p %s\n' | sort && cat repositories.json); }
before=$(snapshot)
err=$(ferry_as_user import "tar:$T/big.tar.gz" big/bb:1 2>&1) && fail "import onto a full disk succeeded"
expect_eq "$(echo "$err" | wc -l)" 1 "one line: $err"
expect_contains "$err" "No space left on device" "names the cause"
expect_contains "$err" "import tar:$T/big.tar.gz" "names the source"
expect_eq "$(snapshot)" "$before" "the store is as it was"
# --no-share: a mount holder would keep the image open, and the tmpfs busy, past the test.
expect_eq "$(ferry_as_user run --no-share small/bb:1 cat /etc/os-release | head -1)" 'NAME="ferry test image"' "the stored image still runs"
echo "PASS: $TEST_NAME"
