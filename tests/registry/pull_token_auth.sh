# ferry pull from a registry with token auth (Bearer, the issuer of
# registry.bash): one token per pull of a five-layer image, reused for the
# manifest and every blob, however many download in parallel; anonymous
# tokens where the registry allows them; a wrong password or none refused in
# one line; short-lived tokens; no password or token in any output, --debug
# included.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/registry.bash"
. "$(dirname "$0")/pull_lib.bash"
need_fuse

# A layout of five layers: busybox, then four each rewriting /etc/hello.
L=$T/img
mkdir -p "$L"
make_busybox_image "$T/base"
layer_tar "$T/base" "$T/l0.tar.gz" gzip
layers=("$T/l0.tar.gz")
for i in 1 2 3 4; do
  mkdir -p "$T/top$i/etc"
  echo "layer $i" >"$T/top$i/etc/hello"
  head -c 100000 /dev/urandom >"$T/top$i/etc/random$i"
  layer_tar "$T/top$i" "$T/l$i.tar.gz" gzip
  layers+=("$T/l$i.tar.gz")
done
image_config "$T/layers.json" "${layers[@]}"
oci_index "$L" "$(tagged "$(oci_manifest "$L" "$T/layers.json" "${layers[@]}")" v1)"
chmod -R a+rX "$L"

registry_start token
registry_upload_oci "$L" test/layers:v1 >/dev/null
ref=$REGISTRY/test/layers:v1
# The realm is plain http too: ferry sends credentials there only when the
# registry is listed insecure (or --tls-verify=false).
user_config "[pull]
jobs = 4
[registries.\"$REGISTRY\"]
insecure = true"
out=$T/outputs
: >"$out"
keep() { printf '%s\n' "$1" >>"$out"; }
# ok WHAT CMD...: runs ferry CMD as the user, keeps its output, fails the test if it fails.
ok() {
  local what=$1 o
  shift
  o=$(ferry_as_user "$@" 2>&1) || fail "$what: $o"
  keep "$o"
}

# No credentials, a wrong password: refused, one line each, nothing stored.
expect_fail err pull -q "$ref"
keep "$err"
expect_contains "$err" "pull $ref: " "anonymous: names the reference"
expect_contains "$err" "authentication required" "anonymous"
expect_fail err pull -q --creds "$REGISTRY_USER:wrong-$REGISTRY_PASS" "$ref"
keep "$err"
expect_contains "$err" "wrong user name or password" "wrong password"
[ ! -e "$STORE/images" ] || [ -z "$(ls "$STORE/images")" ] || fail "a refused pull stored an image"

# One pull, one token, for the manifest, the config and the five layers.
before=$(wc -l <"$TOKEN_LOG")
keep "$(ferry_as_user --debug pull --creds "$REGISTRY_USER:$REGISTRY_PASS" "$ref" 2>&1)"
expect_eq "$(ferry_as_user run "$ref")" "layer 4" "the pulled image runs"
expect_eq "$(grep -c '"GET /v2/test/layers/blobs/sha256:' "$REGISTRY_LOG")" 6 "blob GETs (config and 5 layers)"
expect_eq "$(($(wc -l <"$TOKEN_LOG") - before))" 1 "tokens issued for one pull"
expect_contains "$(tail -1 "$TOKEN_LOG")" "user=$REGISTRY_USER service=ferry-test-registry scope=repository:test/layers:pull " "the token's scope"

# ferry login, then a pull with --debug.
rm -rf "$STORE" && user_dir "$STORE"
keep "$(printf '%s\n' "$REGISTRY_PASS" | ferry_as_user --debug login -u "$REGISTRY_USER" --password-stdin "$REGISTRY" 2>&1)"
before=$(wc -l <"$TOKEN_LOG")
ok "pull after login" --debug pull "$ref"
expect_eq "$(($(wc -l <"$TOKEN_LOG") - before))" 1 "tokens issued for one pull after login"
expect_contains "$(tail -1 "$TOKEN_LOG")" "user=$REGISTRY_USER " "the token after login is the user's"
keep "$(ferry_as_user --debug logout "$REGISTRY" 2>&1)"
keep "$(ferry_as_user --debug pull --creds "$REGISTRY_USER:wrong-$REGISTRY_PASS" "$ref" 2>&1 || true)"

# Short-lived tokens, refused by the registry once expired: pulls more than
# the lifetime apart each get a token of their own and succeed.
registry_start token --token-expires=2 --token-strict-expiry
registry_upload_oci "$L" test/layers:v1 >/dev/null
ref=$REGISTRY/test/layers:v1
user_config "[registries.\"$REGISTRY\"]
insecure = true"
rm -rf "$STORE" && user_dir "$STORE"
ok "first pull with short-lived tokens" --debug pull --creds "$REGISTRY_USER:$REGISTRY_PASS" "$ref"
sleep 3
ferry_as_user rmi "$ref" >/dev/null
before=$(wc -l <"$TOKEN_LOG")
ok "pull after the first token expired" --debug pull --creds "$REGISTRY_USER:$REGISTRY_PASS" "$ref"
[ "$(wc -l <"$TOKEN_LOG")" -gt "$before" ] || fail "the expired token was used again"
expect_eq "$(ferry_as_user run "$ref")" "layer 4" "pulled with short-lived tokens"

# Anonymous pull where the registry allows it: a token without credentials.
registry_start token --anonymous-pull
registry_upload_oci "$L" test/layers:v1 >/dev/null
ref=$REGISTRY/test/layers:v1
user_config "[registries.\"$REGISTRY\"]
insecure = true"
rm -rf "$STORE" && user_dir "$STORE"
keep "$(ferry_as_user --debug pull "$ref" 2>&1)"
expect_eq "$(ferry_as_user run "$ref")" "layer 4" "anonymous pull"
expect_contains "$(tail -1 "$TOKEN_LOG")" "user=anonymous" "the anonymous token"

# Neither the password nor any token issued shows in any output.
grep -q "ferry: debug:" "$out" || fail "--debug printed no debug line (is the flag still --debug?)"
! grep -qF -- "$REGISTRY_PASS" "$out" || fail "the password appears in ferry's output: $(grep -F -- "$REGISTRY_PASS" "$out" | head -3)"
for log in "$T"/registry.*/tokens.log; do
  for t in $(sed -n 's/.* token=\([^ ]*\).*/\1/p' "$log"); do
    [ ${#t} -gt 20 ] || fail "token log line without a token: $log"
    ! grep -qF -- "$t" "$out" || fail "a token appears in ferry's output"
  done
done
echo "PASS: $TEST_NAME"
