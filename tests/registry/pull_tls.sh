# ferry pull from an https registry whose certificate a CA of its own signed:
# refused without trust (one line, a certificate error, at once: not retried),
# accepted with the CA as `ca-file` in ferry.toml, and with --tls-verify=false.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/registry.bash"
. "$(dirname "$0")/pull_lib.bash"
need_fuse

registry_with_busybox "$T/img" tls
ref=$REGISTRY/test/busybox:v1

# Not trusted: a certificate error naming the reference, nothing stored.
user_config "[pull]
retries = 0"
expect_fail err pull -q "$ref"
expect_contains "$err" "pull $ref: " "untrusted: names the reference"
expect_contains "$err" "certificate" "untrusted: a certificate error"
[ ! -e "$STORE/images" ] || [ -z "$(ls "$STORE/images")" ] || fail "an untrusted pull stored an image"

# Trusted through ca-file: pulled and run.
user_config "[pull]
retries = 0
[registries.\"$REGISTRY\"]
ca-file = \"$REGISTRY_CA\""
id=$(ferry_as_user pull -q "$ref")
expect_eq "$(ferry_as_user run "$ref")" v1 "pulled with ca-file: runs"
# The CA is for that registry only: the same registry named otherwise
# (localhost, which its certificate also names) is not trusted.
expect_fail err pull -q "localhost:${REGISTRY#*:}/test/busybox:v1"
expect_contains "$err" "certificate" "ca-file applies to the registry it is listed for"

# --tls-verify=false: no verification, for this one command.
user_config ""
ferry_as_user rmi "$ref" >/dev/null
expect_eq "$(ferry_as_user pull -q --tls-verify=false "$ref")" "$id" "pulled with --tls-verify=false"
expect_eq "$(ferry_as_user run "$ref")" v1 "pulled with --tls-verify=false: runs"

# A certificate error is not transient: ferry says so at once, without the
# retries with backoff it gives a dropped connection (5 by default, 8 s).
ferry_as_user rmi "$ref" >/dev/null
start=$(date +%s%N)
expect_fail err pull -q "$ref"
ms=$((($(date +%s%N) - start) / 1000000))
expect_contains "$err" "certificate" "untrusted, default retries"
[ "$ms" -lt 3000 ] || fail "a certificate error took $ms ms to report: it was retried"
echo "PASS: $TEST_NAME"
