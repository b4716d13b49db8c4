# A mirror that is down (nothing listens on its port) does not stop a pull:
# ferry falls back to the origin, and promptly: connection refused by a
# mirror is not retried with backoff as the origin's own errors are (with
# the default 5 retries that was 8 s added to every pull).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/registry.bash"
. "$(dirname "$0")/pull_lib.bash"

registry_start plain
ORIGIN=$REGISTRY ORIGIN_LOG=$REGISTRY_LOG
registry_busybox_layout "$T/img" v1 >/dev/null
registry_upload_oci "$T/img" test/busybox:v1 >/dev/null
# Port 1: nothing listens there (no test runs a server on a privileged port).
MIRROR=127.0.0.1:1
mirrors="[registries.\"$ORIGIN\"]
mirrors = [\"$MIRROR\"]
insecure = true
[registries.\"$MIRROR\"]
insecure = true"

# retries = 0: the origin at once.
user_config "[pull]
retries = 0
$mirrors"
id=$(ferry_as_user pull -q "$ORIGIN/test/busybox:v1")
[ -f "$STORE/images/${id#sha256:}.sqfs" ] || fail "no image stored"
expect_eq "$(manifest_gets "$ORIGIN_LOG")" 1 "origin: manifest GETs"

# Default retries: still prompt.
rm -rf "$STORE" && user_dir "$STORE"
user_config "$mirrors"
start=$(date +%s%N)
ferry_as_user pull -q "$ORIGIN/test/busybox:v1" >/dev/null
took=$((($(date +%s%N) - start) / 1000000))
[ "$took" -lt 3000 ] || fail "a mirror that refuses connections delayed the pull by $took ms (retried before falling back)"
echo "PASS: $TEST_NAME"
