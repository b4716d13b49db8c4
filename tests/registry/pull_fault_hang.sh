# A registry that accepts connections and never answers: with [pull]
# timeout = 2 and retries = 0, ferry gives up in a bounded time with one
# line saying it timed out, and stores nothing.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/registry.bash"
. "$(dirname "$0")/pull_lib.bash"

registry_with_busybox "$T/img" plain
proxy_start hang
user_config "[pull]
timeout = 2
retries = 0"
ref=$PROXY/test/busybox:v1

start=$(date +%s%N)
rc=0
# timeout(1): a hang fails this test in 30 s rather than at CTest's limit.
err=$(as_user env FERRY_STORE="$STORE" HOME="$USER_HOME" XDG_CONFIG_HOME="$USER_CONFIG" \
  FERRY_SITE_CONFIG="$T/no-site.toml" timeout -k 2 30 "$FERRY" pull -q --tls-verify=false "$ref" 2>&1) || rc=$?
took=$((($(date +%s%N) - start) / 1000000))
[ "$rc" != 124 ] && [ "$rc" != 137 ] || fail "ferry pull still ran after 30 s against a registry that never answers"
expect_eq "$rc" "$EXIT_FAILURE" "exit status"
expect_one_line "$err" "hang"
expect_contains "$err" "pull $ref: " "names the reference"
expect_contains "$err" "timed out" "says it timed out"
[ "$took" -ge 1500 ] || fail "gave up after $took ms, before the 2 s timeout"
[ "$took" -lt 8000 ] || fail "took $took ms to give up with timeout = 2 and retries = 0"
expect_contains "$(cat "$PROXY_LOG")" "fault=hang" "the proxy saw the connection"
[ ! -e "$STORE/images" ] || [ -z "$(ls "$STORE/images")" ] || fail "a failed pull stored an image"
echo "PASS: $TEST_NAME"
