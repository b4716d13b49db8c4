# Pulls at once and a killed pull: eight pulls of one image into one store
# all succeed and leave one image, its blobs and an empty tmp/; a pull
# killed with SIGKILL mid-transfer leaves nothing but work files, which the
# next pull removes, and that pull succeeds.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/registry.bash"
need_fuse

registry_start plain
make_busybox_image "$T/bigroot"
head -c 20000000 /dev/urandom >"$T/bigroot/noise"  # 20 MB: long enough to kill mid-transfer
registry_layout "$T/img" v1 "$(host_arch)" "$T/bigroot" >/dev/null
registry_upload_oci "$T/img" test/big:v1 >/dev/null
store="$T/store"
user_dir "$store"
ferry_as_user() { as_user env FERRY_STORE="$store" "$FERRY" "$@"; }
ref="$REGISTRY/test/big:v1"

pids=()
for i in 1 2 3 4 5 6 7 8; do
  ferry_as_user pull -q --tls-verify=false "$ref" >"$T/out.$i" 2>"$T/err.$i" &
  pids+=($!)
done
for i in "${!pids[@]}"; do
  wait "${pids[$i]}" || fail "pull $((i + 1)) of 8 failed: $(cat "$T/err.$((i + 1))")"
done
expect_eq "$(sort -u "$T"/out.* | wc -l)" 1 "every pull gives the same id"
expect_eq "$(ls "$store/images" | grep -c '\.sqfs$')" 1 "one image file"
expect_eq "$(ls "$store/blobs/sha256" | wc -l)" 2 "the two layer blobs, once each"
expect_eq "$(ls "$store/tmp" | wc -l)" 0 "no work files left"
expect_eq "$(ferry_as_user run "$ref")" "v1" "the image runs"

# A pull killed mid-transfer: SIGKILL as soon as its work files appear.
ferry_as_user rmi "$ref" >/dev/null
# as_user execs, so $! is ferry itself (a shell function would give the subshell's pid).
as_user env FERRY_STORE="$store" "$FERRY" pull -q --tls-verify=false "$ref" >/dev/null 2>&1 &
victim=$!
for _ in $(seq 500); do
  [ -z "$(ls "$store/tmp")" ] || break
  sleep 0.01
done
kill -9 "$victim" 2>/dev/null || fail "the pull ended before it could be killed mid-transfer"
wait "$victim" 2>/dev/null || true
kill -0 "$victim" 2>/dev/null && fail "the pull survived SIGKILL"
[ -n "$(ls "$store/tmp")" ] || fail "no work files seen from the killed pull"
expect_eq "$(ls "$store/images" | wc -l)" 0 "a killed pull publishes nothing"
ferry_as_user pull -q --tls-verify=false "$ref" >/dev/null || fail "the pull after a killed one failed"
expect_eq "$(ls "$store/tmp" | wc -l)" 0 "the killed pull's work files are gone"
expect_eq "$(ferry_as_user run "$ref")" "v1" "the image runs after the killed pull"
echo "PASS: $TEST_NAME"
