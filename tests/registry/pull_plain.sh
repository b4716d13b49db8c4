# ferry pull from a plain-http registry (--tls-verify=false): the image runs,
# is listed, and is byte for byte the SquashFS file `ferry import oci:` makes
# of the same layout; a second pull downloads nothing; a digest reference
# works and a wrong one fails naming it; http is refused unless allowed.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/registry.bash"
. "$(dirname "$0")/pull_lib.bash"
need_fuse

registry_with_busybox "$T/img" plain
digest=$BUSYBOX_DIGEST
ref=$REGISTRY/test/busybox:v1

id=$(ferry_as_user pull -q --tls-verify=false "$ref")
expect_eq "$(ferry_as_user run "$ref")" v1 "the pulled image runs its Cmd"
list=$(ferry_as_user images)
expect_contains "$list" "$REGISTRY/test/busybox" "ferry images: repository"
expect_contains "$list" "v1" "ferry images: tag"
expect_contains "$list" "${id:7:12}" "ferry images: id"

# The same layout imported gives the same id and the same bytes.
other=$T/imported
user_dir "$other"
iid=$(as_user env FERRY_STORE="$other" FERRY_SITE_CONFIG="$T/no-site.toml" "$FERRY" import "oci:$T/img:v1" test/busybox:v1)
expect_eq "$id" "$iid" "pulled id = imported id"
cmp "$STORE/images/${id#sha256:}.sqfs" "$other/images/${id#sha256:}.sqfs" ||
  fail "the pulled SquashFS file differs from the imported one"
cmp "$STORE/images/${id#sha256:}.sqfs.config.json" "$T/img/blobs/sha256/${id#sha256:}" ||
  fail "the config is not stored byte for byte"

# A second pull of the same tag fetches the manifest and nothing else.
gets=$(blob_gets "$REGISTRY_LOG")
[ "$gets" -ge 2 ] || fail "the first pull made $gets blob GETs (the registry log is not what this test expects)"
expect_eq "$(ferry_as_user pull --tls-verify=false "$ref" 2>&1)" "$id" "second pull: output"
expect_eq "$(blob_gets "$REGISTRY_LOG")" "$gets" "blob GETs after the second pull"

# By digest, into an empty store: the same image.
rm -rf "$STORE" && user_dir "$STORE"
expect_eq "$(ferry_as_user pull -q --tls-verify=false "$REGISTRY/test/busybox@$digest")" "$id" "pull by digest"
expect_eq "$(ferry_as_user run "$REGISTRY/test/busybox@$digest")" v1 "run by digest"
wrong=sha256:$(printf 'not the manifest' | sha256sum | cut -d' ' -f1)
expect_fail err pull -q --tls-verify=false "$REGISTRY/test/busybox@$wrong"
expect_contains "$err" "$wrong" "wrong digest: named"
expect_contains "$err" "not found" "wrong digest: why"

# Without --tls-verify=false, plain http is refused: ferry speaks TLS to it
# (and does not retry a TLS failure; pull_tls.sh checks that).
rm -rf "$STORE" && user_dir "$STORE"
expect_fail err pull -q "$ref"
expect_contains "$err" "$ref" "http refused: names the reference"
expect_contains "$err" "SSL" "http refused: a TLS error"
expect_fail err pull -q --tls-verify=true "$ref"
expect_contains "$err" "SSL" "--tls-verify=true: a TLS error"
[ ! -e "$STORE/images" ] || [ -z "$(ls "$STORE/images")" ] || fail "a refused pull stored an image"
# ... unless the user's ferry.toml lists the registry as insecure.
user_config "[pull]
retries = 0
[registries.\"$REGISTRY\"]
insecure = true"
expect_eq "$(ferry_as_user pull -q "$ref")" "$id" "pull from a registry listed insecure"
# Another registry is not made insecure by that entry.
user_config "[pull]
retries = 0
[registries.\"127.0.0.1:1\"]
insecure = true"
ferry_as_user rmi "$ref" >/dev/null
expect_fail err pull -q "$ref"
expect_contains "$err" "SSL" "insecure applies to the registry listed only"
echo "PASS: $TEST_NAME"
