# A pull into a store on a full file system fails with one line naming the
# cause, and the store is left exactly as it was: no image, no blob, nothing
# in tmp/, the index unchanged. Needs root to mount a small tmpfs.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/registry.bash"
need_fuse
[ "$(id -u)" = 0 ] || skip "needs root to mount a small tmpfs"

registry_start plain
registry_busybox_layout "$T/small-img" v1 >/dev/null
registry_upload_oci "$T/small-img" test/small:v1 >/dev/null
make_busybox_image "$T/bigroot"
head -c 3000000 /dev/urandom >"$T/bigroot/noise"  # incompressible
registry_layout "$T/big-img" v1 "$(host_arch)" "$T/bigroot" >/dev/null
registry_upload_oci "$T/big-img" test/big:v1 >/dev/null

small_store 4m

out=$(ferry_as_user pull -q --tls-verify=false "$REGISTRY/test/small:v1" 2>&1) || fail "the small pull failed: $out"
snapshot() { (cd "$store" && find . -printf '%p %s\n' | sort && cat repositories.json); }
before=$(snapshot)
err=$(ferry_as_user pull -q --tls-verify=false "$REGISTRY/test/big:v1" 2>&1) && fail "pull onto a full disk succeeded"
expect_eq "$(echo "$err" | wc -l)" 1 "one line: $err"
expect_contains "$err" "No space left on device" "names the cause"
expect_contains "$err" "pull $REGISTRY/test/big:v1" "names the reference"
expect_eq "$(snapshot)" "$before" "the store is as it was"
# --no-share: a mount holder would keep the image open, and the tmpfs busy, past the test.
expect_eq "$(ferry_as_user run --no-share "$REGISTRY/test/small:v1")" "v1" "the stored image still runs"
echo "PASS: $TEST_NAME"
