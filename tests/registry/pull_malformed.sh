# Malformed input fails in one line naming what is wrong, and stores nothing:
# references ferry cannot parse, and manifests and configs a registry
# accepts and serves but ferry must not (distribution 2.8 refuses manifests
# that are not JSON at all, so the JSON here breaks only what Go tolerates).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/registry.bash"
. "$(dirname "$0")/pull_lib.bash"

# --- references ---------------------------------------------------------------
for r in 'Upper' 'test/Upper:v1' 'a:b:c' '' 'test/x@sha256:abc' 'test/x:bad!tag' 'test//x' '-x'; do
  expect_fail err pull -q -- "$r"
  expect_contains "$err" "ferry: pull $r: invalid reference '$r'" "reference '$r'"
done
[ ! -e "$STORE/images" ] || fail "a malformed reference created the store"

# --- documents ------------------------------------------------------------------
registry_start plain
digest=$(registry_busybox_layout "$T/img" v1)
registry_upload_oci "$T/img" test/busybox:v1 >/dev/null
user_config "[pull]
retries = 0
[registries.\"$REGISTRY\"]
insecure = true"
registry_layout "$T/other" other "$(host_arch)" none >/dev/null
registry_upload_oci "$T/other" test/other:v1 >/dev/null
ferry_as_user pull -q "$REGISTRY/test/other:v1" >/dev/null
before=$(store_state)
OCI_MANIFEST=application/vnd.oci.image.manifest.v1+json
manifest=$(cat "$T/img/blobs/sha256/${digest#sha256:}")
json() { /usr/bin/python3 -c "import json, sys; d = json.load(sys.stdin); print($1)"; }
config=$(json 'd["config"]["digest"]' <<<"$manifest")
# put_manifest TAG FILE: FILE as the manifest tagged TAG.
put_manifest() {
  local code
  code=$(curl -s -o "$T/put.out" -w '%{http_code}' -X PUT -H "Content-Type: $OCI_MANIFEST" \
    --data-binary "@$2" "$REGISTRY_URL/v2/test/busybox/manifests/$1")
  [ "$code" = 201 ] || fail "the registry refused manifest $1 ($code): $(cat "$T/put.out")"
}
# malformed TAG WANT...: pulling TAG fails in one line holding each WANT; the
# store is as it was.
malformed() {
  local tag=$1 err
  shift
  expect_fail err pull -q "$REGISTRY/test/busybox:$tag"
  expect_contains "$err" "ferry: pull $REGISTRY/test/busybox:$tag: " "$tag: names the reference"
  for w in "$@"; do expect_contains "$err" "$w" "$tag"; done
  expect_eq "$(store_state)" "$before" "$tag: the store"
}

# Not UTF-8 (Go's decoder replaces the bytes; JSON forbids them).
printf '%s,"annotations":{"x":"\xff\xfe"}}' "${manifest%\}}" >"$T/m1"
put_manifest utf8 "$T/m1"
malformed utf8 "manifest sha256:$(sha "$T/m1")" "malformed JSON"

# A layer media type no one knows.
sed 's/tar+gzip/tar+bzip2/' <<<"$manifest" | tr -d '\n' >"$T/m2"
put_manifest bzip2 "$T/m2"
malformed bzip2 "unknown media type 'application/vnd.oci.image.layer.v1.tar+bzip2'" "layer sha256:"

# No layers, though the config lists two.
/usr/bin/python3 -c 'import json, sys; d = json.loads(sys.argv[1]); d["layers"] = []; sys.stdout.write(json.dumps(d, separators=(",", ":")))' "$manifest" >"$T/m3"
put_manifest nolayers "$T/m3"
malformed nolayers "config $config" "2 diff_ids for 0 layers"

# A layer without its size (OCI requires it; it bounds the download).
/usr/bin/python3 -c 'import json, sys; d = json.loads(sys.argv[1]); del d["layers"][0]["size"]; sys.stdout.write(json.dumps(d, separators=(",", ":")))' "$manifest" >"$T/m5"
put_manifest nosize "$T/m5"
malformed nosize "layer $(json 'd["layers"][0]["digest"]' <<<"$manifest") has no size"

# A config that is not JSON (the registry stores any blob).
printf 'not a config' >"$T/bad-config"
loc=$(curl -sf -D - -o /dev/null -X POST "$REGISTRY_URL/v2/test/busybox/blobs/uploads/" | tr -d '\r' | sed -n 's/^[Ll]ocation: //p')
case $loc in /*) loc=$REGISTRY_URL$loc ;; esac
bad=sha256:$(sha "$T/bad-config")
curl -sf -o /dev/null -X PUT -H "Content-Type: application/octet-stream" --data-binary "@$T/bad-config" "$loc&digest=$bad" ||
  fail "could not upload the bad config"
/usr/bin/python3 -c 'import json, sys; d = json.loads(sys.argv[1]); d["config"]["digest"] = sys.argv[2]; d["config"]["size"] = 12
sys.stdout.write(json.dumps(d, separators=(",", ":")))' "$manifest" "$bad" >"$T/m4"
put_manifest badconfig "$T/m4"
malformed badconfig "config $bad" "JSON"

# A config past the 8 MiB a document held in memory may have.
/usr/bin/python3 -c 'import json, sys; print(json.dumps({"architecture": "amd64", "os": "linux", "x": "y" * (9 << 20)}))' >"$T/big-config"
loc=$(curl -sf -D - -o /dev/null -X POST "$REGISTRY_URL/v2/test/busybox/blobs/uploads/" | tr -d '\r' | sed -n 's/^[Ll]ocation: //p')
case $loc in /*) loc=$REGISTRY_URL$loc ;; esac
big=sha256:$(sha "$T/big-config")
curl -sf -o /dev/null -X PUT -H "Content-Type: application/octet-stream" --data-binary "@$T/big-config" "$loc&digest=$big" ||
  fail "could not upload the big config"
/usr/bin/python3 -c 'import json, sys; d = json.loads(sys.argv[1]); d["config"]["digest"] = sys.argv[2]; d["config"]["size"] = int(sys.argv[3])
sys.stdout.write(json.dumps(d, separators=(",", ":")))' "$manifest" "$big" "$(stat -c %s "$T/big-config")" >"$T/m6"
put_manifest bigconfig "$T/m6"
malformed bigconfig "the registry's answer is larger than 8 MiB: refused"
echo "PASS: $TEST_NAME"
