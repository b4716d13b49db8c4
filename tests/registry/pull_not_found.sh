# What a registry does not have: a tag, a repository, a blob its manifest
# names. Each fails in one line naming what is missing, and stores nothing.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/registry.bash"
. "$(dirname "$0")/pull_lib.bash"

registry_with_busybox "$T/img" plain
user_config "[registries.\"$REGISTRY\"]
insecure = true"
nothing_stored() {
  [ ! -e "$STORE/images" ] || [ -z "$(ls "$STORE/images")" ] || fail "$1: an image was stored"
  [ ! -e "$STORE/blobs/sha256" ] || [ -z "$(ls "$STORE/blobs/sha256")" ] || fail "$1: blobs were stored"
  [ ! -e "$STORE/tmp" ] || [ -z "$(ls -A "$STORE/tmp")" ] || fail "$1: tmp/ not empty"
}

expect_fail err pull -q "$REGISTRY/test/busybox:v2"
expect_contains "$err" "test/busybox:v2" "unknown tag: named"
expect_contains "$err" "not found" "unknown tag"
nothing_stored "unknown tag"

expect_fail err pull -q "$REGISTRY/test/nothing:v1"
expect_contains "$err" "test/nothing:v1" "unknown repository: named"
expect_contains "$err" "not found" "unknown repository"
nothing_stored "unknown repository"

# The manifest is there, a layer blob is not (removed from the registry's
# storage behind its back).
layer=$(/usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin)["layers"][0]["digest"])' \
  <"$T/img/blobs/sha256/$(/usr/bin/python3 -c 'import json; print(json.load(open("'"$T"'/img/index.json"))["manifests"][0]["digest"][7:])')")
blob=$(dirname "$REGISTRY_LOG")/storage/docker/registry/v2/blobs/sha256/${layer:7:2}/${layer#sha256:}
[ -d "$blob" ] || fail "no blob $blob in the registry's storage (distribution's layout changed?)"
rm -rf "$blob"
expect_fail err pull -q "$REGISTRY/test/busybox:v1"
expect_contains "$err" "layer $layer: not found" "missing blob"
nothing_stored "missing blob"

# A registry host that does not resolve is not retried (an offline compute
# node or a typo): one line naming the host, and no "(retrying)" in the
# debug output.
expect_fail err pull -q "nosuchhost.invalid/test/busybox:v1"
expect_contains "$err" "nosuchhost.invalid" "unknown host: named"
dbg=$(ferry_as_user --debug pull -q "nosuchhost.invalid/test/busybox:v1" 2>&1) && fail "pull from an unknown host succeeded"
case $dbg in *"(retrying)"*) fail "an unknown host was retried: $dbg" ;; esac
nothing_stored "unknown host"
echo "PASS: $TEST_NAME"
