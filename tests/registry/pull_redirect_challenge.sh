# A registry's blobs may be served from elsewhere (a storage host, a CDN)
# by redirect. Only the registry's own origin (scheme, host, port) gets the
# user's credentials or has its 401 challenge answered: a redirect target
# that answers 401 with a Bearer realm of its own gets no token request,
# so never the password; the pull fails with one line, the store unchanged.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/registry.bash"
. "$(dirname "$0")/pull_lib.bash"
need_fuse

registry_with_busybox "$T/img" basic
proxy_start cdn-challenge
ref=$PROXY/test/busybox:v1
user_config "[registries.\"$PROXY\"]
insecure = true"

expect_fail err pull -q --creds "$REGISTRY_USER:$REGISTRY_PASS" "$ref"
expect_contains "$err" "pull $ref: " "names the reference"
expect_contains "$err" "http://localhost:${PROXY#*:}, where the registry redirected, refused access (401)" "names who refused"
case $err in *"$REGISTRY_PASS"*) fail "the password is in the message" ;; esac
grep -q " GET /cdn/sha256:" "$PROXY_LOG" || fail "no blob was redirected (proxy log: $(cat "$PROXY_LOG"))"
if grep " /cdn-token" "$PROXY_LOG"; then fail "the redirect target's realm was asked for a token"; fi
if grep " /cdn" "$PROXY_LOG" | grep -v " auth=- "; then fail "the redirect target got credentials"; fi
expect_eq "$(find "$STORE" -name '*.sqfs' 2>/dev/null | wc -l)" "0" "no image stored"
