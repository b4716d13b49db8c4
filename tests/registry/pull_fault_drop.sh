# A connection dropped in the middle of each blob (the fault proxy's
# drop-each-blob): ferry pulls anyway, resuming each layer with a Range
# request, and the image is byte for byte what `ferry import` makes.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/registry.bash"
. "$(dirname "$0")/pull_lib.bash"
need_fuse

registry_with_busybox "$T/img" plain
proxy_start drop-each-blob
ref=$PROXY/test/busybox:v1

id=$(ferry_as_user pull -q --tls-verify=false "$ref")
expect_eq "$(ferry_as_user run "$ref")" v1 "the pulled image runs"
log=$(cat "$PROXY_LOG")
# Config and both layers were cut once each...
expect_eq "$(grep -c 'fault=drop' "$PROXY_LOG")" 3 "blob GETs cut"
# ... and each layer resumed where it was cut (the config, read whole, is
# fetched again).
layers=$(/usr/bin/python3 -c 'import json, sys; print(" ".join(l["digest"] for l in json.load(sys.stdin)["layers"]))' \
  <"$STORE/images/${id#sha256:}.sqfs.manifest.json")
for l in $layers; do
  sent=$(sed -n "s|.* GET /v2/test/busybox/blobs/$l range=- .*fault=drop sent=\([0-9]*\)$|\1|p" "$PROXY_LOG")
  [ -n "$sent" ] || fail "layer $l was not cut: $log"
  expect_contains "$log" "GET /v2/test/busybox/blobs/$l range=bytes=$sent- auth=- status=206 fault=none" "layer $l resumed"
  cmp "$STORE/blobs/sha256/${l#sha256:}" "$T/img/blobs/sha256/${l#sha256:}" || fail "layer $l stored differs"
done

# The same image as an import of the layout, byte for byte.
other=$T/imported
user_dir "$other"
iid=$(as_user env FERRY_STORE="$other" FERRY_SITE_CONFIG="$T/no-site.toml" "$FERRY" import "oci:$T/img:v1" test/busybox:v1)
expect_eq "$iid" "$id" "imported id"
cmp "$STORE/images/${id#sha256:}.sqfs" "$other/images/${id#sha256:}.sqfs" || fail "the resumed pull's SquashFS differs"
[ -z "$(ls -A "$STORE/tmp")" ] || fail "tmp/ not empty after the pull: $(ls -A "$STORE/tmp")"
echo "PASS: $TEST_NAME"
