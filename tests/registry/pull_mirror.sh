# A mirror listed for a registry in ferry.toml ([registries."ORIGIN"]
# mirrors) is asked first: when it has the image, the origin is not asked
# at all; when it lacks it, the origin gives it. Either way the image is
# stored under the name asked for.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/registry.bash"
. "$(dirname "$0")/pull_lib.bash"
need_fuse

registry_start plain
ORIGIN=$REGISTRY ORIGIN_LOG=$REGISTRY_LOG
registry_busybox_layout "$T/img" v1 >/dev/null
registry_upload_oci "$T/img" test/busybox:v1 >/dev/null
registry_busybox_layout "$T/only" origin-only >/dev/null
registry_upload_oci "$T/only" test/only:v1 >/dev/null
registry_start plain
MIRROR=$REGISTRY MIRROR_LOG=$REGISTRY_LOG
registry_upload_oci "$T/img" test/busybox:v1 >/dev/null
user_config "[registries.\"$ORIGIN\"]
mirrors = [\"$MIRROR\"]
insecure = true
[registries.\"$MIRROR\"]
insecure = true"

# The mirror has it: the origin sees no request at all.
: >"$ORIGIN_LOG"
: >"$MIRROR_LOG"
ferry_as_user pull -q "$ORIGIN/test/busybox:v1" >/dev/null
expect_eq "$(ferry_as_user run "$ORIGIN/test/busybox:v1")" v1 "pulled from the mirror: runs"
expect_eq "$(manifest_gets "$MIRROR_LOG")" 1 "mirror: manifest GETs"
expect_eq "$(blob_gets "$MIRROR_LOG")" 3 "mirror: blob GETs (config and 2 layers)"
[ -z "$(grep -E '"(GET|HEAD) /v2/' "$ORIGIN_LOG" || true)" ] || fail "the origin was asked: $(grep -E '"(GET|HEAD) /v2/' "$ORIGIN_LOG")"
list=$(ferry_as_user images)
expect_contains "$list" "$ORIGIN/test/busybox" "stored under the origin's name"
case $list in *"$MIRROR"*) fail "stored under the mirror's name: $list" ;; esac

# The mirror lacks it: asked, then the origin.
: >"$ORIGIN_LOG"
: >"$MIRROR_LOG"
ferry_as_user pull -q "$ORIGIN/test/only:v1" >/dev/null
expect_eq "$(ferry_as_user run "$ORIGIN/test/only:v1")" origin-only "pulled from the origin: runs"
expect_contains "$(cat "$MIRROR_LOG")" '"GET /v2/test/only/manifests/v1 HTTP/1.1" 404' "the mirror was asked first"
expect_eq "$(manifest_gets "$ORIGIN_LOG")" 1 "origin: manifest GETs"
expect_eq "$(blob_gets "$MIRROR_LOG")" 0 "mirror: blob GETs when it lacks the image"
# Only the layer the store lacks came from the origin (the base is shared).
expect_eq "$(blob_gets "$ORIGIN_LOG")" 2 "origin: blob GETs (config and the top layer)"

# An image neither has: one line, from the origin's answer.
expect_fail err pull -q "$ORIGIN/test/none:v1"
expect_contains "$err" "pull $ORIGIN/test/none:v1: manifest v1: not found" "neither has it"
echo "PASS: $TEST_NAME"
