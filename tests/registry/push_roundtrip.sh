# import -> push -> rmi -> pull -> run: the pulled SquashFS file is
# byte-identical to the imported one, and the registry holds a standard OCI
# image (the manifest pushed is the one the layout had). A rootfs (dir:)
# import pushes as one layer; pushing again uploads nothing; a second name on
# the same registry is cross-mounted; chunked uploads give the same image.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/registry.bash"
need_fuse

registry_start token
registry_busybox_layout "$T/img" v1 >/dev/null
store="$T/store"
user_dir "$store"
creds="$REGISTRY_USER:$REGISTRY_PASS"
ferry_as_user() { as_user env FERRY_STORE="$store" "$FERRY" "$@"; }
push() { ferry_as_user push --tls-verify=false --creds "$creds" "$@"; }

id=$(ferry_as_user import "oci:$T/img:v1" local/bb:v1)
cp "$store"/images/*.sqfs "$T/imported.sqfs"
layout_manifest=$(sed 's/.*"digest":"\(sha256:[0-9a-f]*\)".*/\1/' "$T/img/index.json")

out=$(push local/bb:v1 "$REGISTRY/test/bb:v1" 2>"$T/push.err") || fail "push: $(cat "$T/push.err")"
expect_eq "$out" "$layout_manifest" "push prints the manifest digest, the layout's own"
token=$(curl -fsS -u "$creds" "$TOKEN_REALM?service=ferry-test-registry&scope=repository:test/bb:pull" |
  sed 's/.*"token": *"\([^"]*\)".*/\1/')
got=$(curl -fsS -H "Authorization: Bearer $token" -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
  "$REGISTRY_URL/v2/test/bb/manifests/v1" | sha256sum | cut -d' ' -f1)
expect_eq "sha256:$got" "$layout_manifest" "the registry serves the manifest byte for byte"

# Again: every blob is there already.
push local/bb:v1 "$REGISTRY/test/bb:v1" >/dev/null 2>"$T/again.err" || fail "second push: $(cat "$T/again.err")"
expect_contains "$(cat "$T/again.err")" "already there" "a second push skips the blobs"
[ "$(grep -c 'already there' "$T/again.err")" = 3 ] || fail "second push sent blobs: $(cat "$T/again.err")"

# Another repository of the same registry: blobs mounted from the first.
ferry_as_user tag local/bb:v1 "$REGISTRY/test/bb:v1"
push "$REGISTRY/test/bb:v1" "$REGISTRY/other/bb:v2" >/dev/null 2>"$T/mount.err" || fail "mount push: $(cat "$T/mount.err")"
mounted=$(grep -c '"POST /v2/other/bb/blobs/uploads/?mount=sha256[^"]*" 201' "$REGISTRY_LOG" || true)
expect_eq "$mounted" 3 "both layers and the config mounted from test/bb"
grep -q '"PUT /v2/other/bb/blobs/uploads/' "$REGISTRY_LOG" && fail "a mounted blob was uploaded again"

# Round trip: forget the image, pull it back, run it.
ferry_as_user rmi local/bb:v1 "$REGISTRY/test/bb:v1" >/dev/null
[ -z "$(ls "$store/images")" ] || fail "rmi left files: $(ls "$store/images")"
[ -z "$(ls "$store/blobs/sha256")" ] || fail "rmi left blobs: $(ls "$store/blobs/sha256")"
pulled=$(ferry_as_user pull -q --tls-verify=false --creds "$creds" "$REGISTRY/other/bb:v2") || fail "pull failed"
expect_eq "$pulled" "$id" "the pulled image has the imported image's id"
expect_contains "$(ferry_as_user inspect "$REGISTRY/other/bb:v2")" "\"Digest\": \"$layout_manifest\"" \
  "inspect shows the manifest digest"
cmp -s "$store/images/${id#sha256:}.sqfs" "$T/imported.sqfs" || fail "pulled SquashFS differs from the imported one"
expect_eq "$(ferry_as_user run "$REGISTRY/other/bb:v2")" "v1" "the pulled image runs"

# A directory import pushes as one layer, here in 1 MiB chunks.
make_busybox_image "$T/root"
chmod -R a+rX "$T/root"
rid=$(ferry_as_user import "dir:$T/root" local/dir:1)
rsqfs="$store/images/${rid#sha256:}.sqfs"
cp "$rsqfs" "$T/dir.sqfs"
push --chunk-size 1 local/dir:1 "$REGISTRY/test/dir:1" >/dev/null 2>"$T/chunk.err" || fail "chunked push: $(cat "$T/chunk.err")"
grep -q '"PATCH /v2/test/dir/blobs/uploads/' "$REGISTRY_LOG" || fail "no chunked (PATCH) upload"
ferry_as_user rmi local/dir:1 >/dev/null
pulled=$(ferry_as_user pull -q --tls-verify=false --creds "$creds" "$REGISTRY/test/dir:1") || fail "pull of the dir image failed"
expect_eq "$pulled" "$rid" "dir: image id survives the round trip"
cmp -s "$rsqfs" "$T/dir.sqfs" || fail "dir: image SquashFS differs after the round trip"
expect_eq "$(ferry_as_user run "$REGISTRY/test/dir:1" cat /etc/os-release | head -1)" 'NAME="ferry test image"' "dir image runs"

# Without credentials: one line, nothing pushed.
err=$(ferry_as_user push --tls-verify=false "$REGISTRY/test/dir:1" "$REGISTRY/test/nocreds:1" 2>&1) &&
  fail "push without credentials succeeded"
expect_eq "$(echo "$err" | wc -l)" 1 "one line: $err"
expect_contains "$err" "authentication required" "push without credentials"
# A digest is not a place to push to.
err=$(push "$REGISTRY/test/dir:1" "$REGISTRY/test/x@sha256:$(printf '%064d' 0)" 2>&1) && fail "push to a digest succeeded"
expect_contains "$err" "push to a tag, not a digest" "push to a digest"
