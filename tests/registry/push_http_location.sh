# A verified https registry whose upload Location says http:// (a
# TLS-terminating proxy that tells the registry "http") would get the blob
# and the token in the clear: the push is refused with one line instead,
# before the first upload byte. (A registry listed insecure may send http
# locations: tests/registry/push_roundtrip.sh pushes over plain http.)
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/registry.bash"

registry_start tls
registry_busybox_layout "$T/img" v1 >/dev/null
proxy_start none --tls
store=$T/store
user_dir "$store"
user_dir "$T/xdg/ferry"
ferry_as_user() { as_user env FERRY_STORE="$store" XDG_CONFIG_HOME="$T/xdg" "$FERRY" "$@"; }
config() { printf '%s\n' "$1" >"$T/xdg/ferry/ferry.toml" && chmod a+r "$T/xdg/ferry/ferry.toml"; }
ferry_as_user import "oci:$T/img:v1" local/bb:v1 >/dev/null

config "[registries.\"$PROXY\"]
ca-file = \"$REGISTRY_CA\""
st=0
err=$(ferry_as_user push local/bb:v1 "$PROXY/test/bb:v1" 2>&1) || st=$?
expect_eq "$st" "$EXIT_FAILURE" "exit status"
expect_contains "$err" "the registry sent a plain http location (http://$PROXY); refusing" "message"

