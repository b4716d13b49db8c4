# A registry that answers 429 Too Many Requests (Retry-After: 1) or 503 a
# few times: ferry waits (as long as Retry-After says, for a 429) and
# retries, and the pull succeeds; more refusals than [pull] retries allows
# fail in one line.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/registry.bash"
. "$(dirname "$0")/pull_lib.bash"

registry_with_busybox "$T/img" plain
ms() { echo $((($(date +%s%N) - $1) / 1000000)); }

# 429 twice: the third request passes, after 2 s of Retry-After.
proxy_start 429 --count=2
start=$(date +%s%N)
id=$(ferry_as_user pull -q --tls-verify=false "$PROXY/test/busybox:v1")
took=$(ms "$start")
expect_eq "$(grep -c 'status=429 fault=429' "$PROXY_LOG")" 2 "429s sent"
expect_contains "$(sed -n 3p "$PROXY_LOG")" "status=200" "the request after the 429s"
[ "$took" -ge 1900 ] || fail "429: pulled in $took ms: Retry-After: 1 was not honoured twice"
[ -f "$STORE/images/${id#sha256:}.sqfs" ] || fail "429: no image stored"

# 503 twice: retried with backoff.
rm -rf "$STORE" && user_dir "$STORE"
proxy_start 500 --count=2
id=$(ferry_as_user pull -q --tls-verify=false "$PROXY/test/busybox:v1")
expect_eq "$(grep -c 'status=503 fault=503' "$PROXY_LOG")" 2 "503s sent"
[ -f "$STORE/images/${id#sha256:}.sqfs" ] || fail "503: no image stored"

# More than [pull] retries allows: one line each, nothing stored.
rm -rf "$STORE" && user_dir "$STORE"
user_config "[pull]
retries = 1"
proxy_start 500 --count=3
expect_fail err pull -q --tls-verify=false "$PROXY/test/busybox:v1"
expect_contains "$err" "pull $PROXY/test/busybox:v1: " "503 past retries: names the reference"
expect_contains "$err" "503" "503 past retries"
expect_eq "$(wc -l <"$PROXY_LOG")" 2 "503 past retries: requests (1 + 1 retry)"
proxy_start 429 --count=3
expect_fail err pull -q --tls-verify=false "$PROXY/test/busybox:v1"
expect_contains "$err" "too many requests (429)" "429 past retries"
[ ! -e "$STORE/images" ] || [ -z "$(ls "$STORE/images")" ] || fail "a failed pull stored an image"
echo "PASS: $TEST_NAME"
