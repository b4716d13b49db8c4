# The registry fixtures (tests/registry/registry.bash) do what the registry
# tests rely on, shown with curl alone: each registry mode answers and
# authenticates as it should, upload.py seeds a registry (one image, a
# multi-arch index), and each fault of the proxy happens as described.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/registry.bash"
command -v curl >/dev/null || skip "curl is not installed"
command -v docker-registry >/dev/null || skip "docker-registry is not installed (tools/deps.txt lists it)"

OCI_MANIFEST=application/vnd.oci.image.manifest.v1+json
OCI_INDEX=application/vnd.oci.image.index.v1+json
code() { curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$@"; }
json() { /usr/bin/python3 -c "import json, sys; d = json.load(sys.stdin); print($1)"; }
# The layout's layers: a busybox base when the probe is built, else a
# directory of its own; either way a 256 KiB file makes a blob worth cutting.
base=none
[ -x /bin/busybox ] && [ -f "$FERRY_PROBE" ] && base=busybox
mkdir -p "$T/rootfs/data"
head -c 262144 /dev/urandom >"$T/rootfs/data/random"
registry_layout "$T/layout" v1 "$(host_arch)" "$T/rootfs" >"$T/v1.digest"
registry_multiarch_layout "$T/multi" "$base"

# --- token: a Bearer challenge, a token from the realm, then access ------------
registry_start token
h=$(curl -s -D - -o /dev/null "$REGISTRY_URL/v2/")
expect_contains "$h" "401 Unauthorized" "token: /v2/ without a token"
expect_contains "$h" "Bearer realm=\"$TOKEN_REALM\",service=\"ferry-test-registry\"" "token: challenge"
tok() { curl -s --max-time 10 "$@" | json 'd["token"]'; }
t=$(tok -u "$REGISTRY_USER:$REGISTRY_PASS" "$TOKEN_REALM?service=ferry-test-registry&scope=repository:smoke/one:pull,push")
expect_eq "$(code -H "Authorization: Bearer $t" "$REGISTRY_URL/v2/")" 200 "token: /v2/ with a token"
expect_eq "$(code -u "$REGISTRY_USER:wrong" "$TOKEN_REALM?service=ferry-test-registry")" 401 "token: wrong password at the realm"
expect_eq "$(wc -l <"$TOKEN_LOG")" 1 "token: one line per token issued"
expect_contains "$(cat "$TOKEN_LOG")" "user=$REGISTRY_USER service=ferry-test-registry scope=repository:smoke/one:pull,push" "token log"
case $(cat "$TOKEN_LOG") in *"$REGISTRY_PASS"*) fail "the token log holds the password" ;; esac
digest=$(registry_upload_oci "$T/layout" smoke/one:v1)
expect_eq "$digest" "$(cat "$T/v1.digest")" "token: upload prints the manifest digest"
expect_eq "$(code -H "Authorization: Bearer $t" -H "Accept: $OCI_MANIFEST" "$REGISTRY_URL/v2/smoke/one/manifests/v1")" 200 "token: manifest"
# Anonymous: a token with no access, as Docker Hub gives for a private repository.
anon=$(tok "$TOKEN_REALM?service=ferry-test-registry&scope=repository:smoke/one:pull")
h=$(curl -s -D - -o /dev/null -H "Authorization: Bearer $anon" -H "Accept: $OCI_MANIFEST" "$REGISTRY_URL/v2/smoke/one/manifests/v1")
expect_contains "$h" "401 Unauthorized" "token: anonymous pull"
expect_contains "$h" 'error="insufficient_scope"' "token: anonymous challenge"
expect_contains "$(tail -1 "$TOKEN_LOG")" "user=anonymous" "token log: anonymous"

# Short tokens, refused once expires_in has passed; anonymous pull allowed.
registry_start token --token-expires=2 --token-strict-expiry --anonymous-pull
registry_upload_oci "$T/layout" smoke/one:v1 >/dev/null
anon=$(tok "$TOKEN_REALM?service=ferry-test-registry&scope=repository:smoke/one:pull,push")
expect_eq "$(curl -s "$TOKEN_REALM" | json 'd["expires_in"]')" 2 "token: expires_in"
m=(-H "Authorization: Bearer $anon" -H "Accept: $OCI_MANIFEST" "$REGISTRY_URL/v2/smoke/one/manifests/v1")
expect_eq "$(code "${m[@]}")" 200 "token: anonymous pull allowed"
expect_eq "$(code -X PUT -H "Authorization: Bearer $anon" "$REGISTRY_URL/v2/smoke/one/manifests/v2")" 401 "token: anonymous push"
sleep 3
expect_eq "$(code "${m[@]}")" 401 "token: refused after expires_in"

# --- basic ------------------------------------------------------------------
registry_start basic
h=$(curl -s -D - -o /dev/null "$REGISTRY_URL/v2/")
expect_contains "$h" "401 Unauthorized" "basic: /v2/ without credentials"
expect_contains "$h" 'Basic realm="ferry-test"' "basic: challenge"
expect_eq "$(code -u "$REGISTRY_USER:$REGISTRY_PASS" "$REGISTRY_URL/v2/")" 200 "basic: /v2/ with credentials"
expect_eq "$(code -u "$REGISTRY_USER:wrong" "$REGISTRY_URL/v2/")" 401 "basic: wrong password"
registry_upload_oci "$T/layout" smoke/one:v1 >/dev/null
expect_eq "$(code -u "$REGISTRY_USER:$REGISTRY_PASS" -H "Accept: $OCI_MANIFEST" "$REGISTRY_URL/v2/smoke/one/manifests/v1")" 200 "basic: manifest"

# --- tls --------------------------------------------------------------------
registry_start tls
expect_eq "$REGISTRY_URL" "https://$REGISTRY" "tls: URL"
expect_eq "$(code --cacert "$REGISTRY_CA" "$REGISTRY_URL/v2/")" 200 "tls: /v2/ with the CA"
rc=0
curl -s -o /dev/null "$REGISTRY_URL/v2/" || rc=$?
expect_eq "$rc" 60 "tls: curl without the CA refuses the certificate"
registry_upload_oci "$T/layout" smoke/one:v1 >/dev/null
expect_eq "$(code --cacert "$REGISTRY_CA" -H "Accept: $OCI_MANIFEST" "$REGISTRY_URL/v2/smoke/one/manifests/v1")" 200 "tls: manifest"

# --- plain: uploads, byte for byte -----------------------------------------------
registry_start plain
expect_eq "$(code "$REGISTRY_URL/v2/")" 200 "plain: /v2/"
registry_upload_oci "$T/layout" smoke/one:v1 >/dev/null
curl -sf -H "Accept: $OCI_MANIFEST" "$REGISTRY_URL/v2/smoke/one/manifests/v1" >"$T/got.manifest"
cmp "$T/got.manifest" "$T/layout/blobs/sha256/$(cut -d: -f2 "$T/v1.digest")" || fail "plain: manifest not stored byte for byte"
layer=$(json 'd["layers"][-1]["digest"]' <"$T/got.manifest")
config=$(json 'd["config"]["digest"]' <"$T/got.manifest")
expect_contains "$(curl -sf "$REGISTRY_URL/v2/smoke/one/blobs/$config")" '"FIXTURE=v1"' "plain: config blob"
# The same layout with Docker media types.
registry_upload_oci "$T/layout" smoke/docker:v1 --ref v1 --docker >/dev/null
expect_eq "$(curl -sf -H "Accept: application/vnd.docker.distribution.manifest.v2+json" "$REGISTRY_URL/v2/smoke/docker/manifests/v1" | json 'd["mediaType"]')" \
  application/vnd.docker.distribution.manifest.v2+json "plain: docker manifest"

# A multi-arch index: two manifests, their platforms, different /arch.
idx_digest=$(registry_upload_oci "$T/multi" smoke/multi:latest --index)
curl -sf -H "Accept: $OCI_INDEX" "$REGISTRY_URL/v2/smoke/multi/manifests/latest" >"$T/got.index"
expect_eq "sha256:$(sha256sum <"$T/got.index" | cut -d' ' -f1)" "$idx_digest" "index digest"
expect_eq "$(json '" ".join(m["platform"]["os"] + "/" + m["platform"]["architecture"] + "/" + m["platform"].get("variant", "") for m in d["manifests"])' <"$T/got.index")" \
  "linux/amd64/ linux/arm64/v8" "index platforms"
for i in 0 1; do
  md=$(json "d['manifests'][$i]['digest']" <"$T/got.index")
  top=$(curl -sf -H "Accept: $OCI_MANIFEST" "$REGISTRY_URL/v2/smoke/multi/manifests/$md" | json 'd["layers"][-1]["digest"]')
  curl -sf "$REGISTRY_URL/v2/smoke/multi/blobs/$top" | tar -xzOf - ./arch >"$T/arch.$i"
done
expect_eq "$(cat "$T/arch.0") $(cat "$T/arch.1")" "amd64 arm64/v8" "each platform's /arch"

# --- the proxy, in front of the plain registry --------------------------------------
size=$(stat -c %s "$T/layout/blobs/sha256/${layer#sha256:}")
# proxy FAULT: a proxy, and $blob, the layer's URL through it.
proxy() { proxy_start "$1"; blob=$PROXY_URL/v2/smoke/one/blobs/$layer; }
proxy none
expect_eq "$(curl -sf "$blob" | sha256sum | cut -d' ' -f1)" "${layer#sha256:}" "none: blob"
# Keep-alive: one connection for two requests.
v=$(curl -sv -o /dev/null -o /dev/null "$PROXY_URL/v2/" "$blob" 2>&1)
expect_contains "$v" "Re-using existing connection" "none: keep-alive"
# A chunked upload through the proxy: its Location points back at the proxy.
head -c 100000 /dev/urandom >"$T/push.bin"
loc=$(curl -sf -D - -o /dev/null -X POST "$PROXY_URL/v2/smoke/push/blobs/uploads/" | tr -d '\r' | sed -n 's/^[Ll]ocation: //p')
expect_contains "$loc" "http://$PROXY/v2/smoke/push/blobs/uploads/" "none: upload Location"
loc=$(curl -sf -D - -o /dev/null -X PATCH -H "Content-Type: application/octet-stream" -H "Transfer-Encoding: chunked" \
  --data-binary "@$T/push.bin" "$loc" | tr -d '\r' | sed -n 's/^[Ll]ocation: //p')
pd=sha256:$(sha256sum <"$T/push.bin" | cut -d' ' -f1)
expect_eq "$(code -X PUT "$loc&digest=$pd")" 201 "none: chunked upload committed"
expect_eq "$(curl -sf "$PROXY_URL/v2/smoke/push/blobs/$pd" | sha256sum | cut -d' ' -f1)" "${pd#sha256:}" "none: pushed blob"
expect_contains "$(cat "$PROXY_LOG")" "PATCH /v2/smoke/push/blobs/uploads/" "none: log"

proxy drop-blob
rc=0
curl -s -o "$T/part" "$blob" || rc=$?
expect_eq "$rc" 18 "drop-blob: curl sees a partial transfer"
got=$(stat -c %s "$T/part")
expect_eq "$got" $((size / 2)) "drop-blob: half the body"
expect_eq "$(curl -s -o "$T/rest" -w '%{http_code}' -r "$got-" "$blob")" 206 "drop-blob: Range request"
expect_eq "$(cat "$T/part" "$T/rest" | sha256sum | cut -d' ' -f1)" "${layer#sha256:}" "drop-blob: resumed blob"
expect_eq "$(curl -s "$blob" | sha256sum | cut -d' ' -f1)" "${layer#sha256:}" "drop-blob: later GETs pass"
expect_contains "$(cat "$PROXY_LOG")" "status=200 fault=drop sent=$got" "drop-blob: log of the cut"
expect_contains "$(cat "$PROXY_LOG")" "range=bytes=$got- auth=- status=206 fault=none" "drop-blob: log of the resume"

proxy corrupt-blob
curl -sf -o "$T/bad" "$blob"
expect_eq "$(stat -c %s "$T/bad")" "$size" "corrupt-blob: same length"
[ "$(sha256sum <"$T/bad" | cut -d' ' -f1)" != "${layer#sha256:}" ] || fail "corrupt-blob: the body is intact"
expect_eq "$({ cmp -l "$T/bad" "$T/layout/blobs/sha256/${layer#sha256:}" || true; } | wc -l)" 1 "corrupt-blob: one byte differs"

proxy 429
h=$(curl -s -D - -o /dev/null "$PROXY_URL/v2/" | tr -d '\r')
expect_contains "$h" "429 Too Many Requests" "429: first"
expect_contains "$h" "Retry-After: 1" "429: Retry-After"
expect_eq "$(code "$PROXY_URL/v2/")" 429 "429: second"
expect_eq "$(code "$PROXY_URL/v2/")" 200 "429: then through"

proxy 500
expect_eq "$(code "$PROXY_URL/v2/")" 503 "500: first"
expect_eq "$(code "$blob")" 503 "500: second"
expect_eq "$(code "$blob")" 200 "500: then through"

proxy hang
rc=0
curl -s -o /dev/null --max-time 2 "$PROXY_URL/v2/" || rc=$?
expect_eq "$rc" 28 "hang: curl times out"
expect_contains "$(cat "$PROXY_LOG")" "fault=hang" "hang: log"

# Everything started stops.
pids=("${_registry_pids[@]}")
registry_stop
for p in "${pids[@]}"; do ! _registry_alive "$p" || fail "process $p still runs after registry_stop"; done
echo "PASS: $TEST_NAME"
