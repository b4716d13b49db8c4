# Every blob is checked: a wrong layer digest, a wrong diff_id, a missing
# blob, malformed JSON, an unknown media type, a truncated gzip layer each
# give one line naming the blob, exit 125, and leave the store as it was.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/image_fixtures.bash"

two_layer_trees "$T/t" verify
layer_tar "$T/t/base" "$T/base.tar.gz" gzip
layer_tar "$T/t/top" "$T/top.tar" none
image_config "$T/config" "$T/base.tar.gz" "$T/top.tar"
base=sha256:$(sha "$T/base.tar.gz")
top=sha256:$(sha "$T/top.tar")
store="$T/store"
user_dir "$store"
ferry_as_user() { as_user env FERRY_STORE="$store" "$FERRY" "$@"; }

# good LAYOUT: a correct layout to break one thing in.
good() {
  rm -rf "$1"
  mkdir -p "$1"
  oci_index "$1" "$(tagged "$(oci_manifest "$1" "$T/config" "$T/base.tar.gz" "$T/top.tar")" v1)"
}
good "$T/ok"
chmod -R a+rX "$T"
ferry_as_user import "oci:$T/ok:v1" ok/image >/dev/null
snapshot() { (cd "$store" && find . -path ./lock -prune -o -printf '%p %s\n' | sort; cat repositories.json) | sha256sum; }
before=$(snapshot)

check_bad() {  # check_bad WHAT LAYOUT EXPECTED-SUBSTRING
  local err
  chmod -R a+rX "$2"
  err=$(ferry_as_user import "oci:$2:v1" bad/image 2>&1) && fail "$1: import succeeded"
  expect_status "$EXIT_FAILURE" ferry_as_user import "oci:$2:v1" bad/image
  [ "$(printf '%s\n' "$err" | wc -l)" = 1 ] || fail "$1: more than one line: $err"
  expect_contains "$err" "$3" "$1 message"
  expect_eq "$(snapshot)" "$before" "$1 leaves the store as it was"
}
# A layer blob whose bytes are not its digest's (same size, one byte changed).
L=$T/digest; good "$L"
printf 'X' | dd of="$L/blobs/sha256/${top#sha256:}" bs=1 seek=600 conv=notrunc status=none
check_bad "wrong layer digest" "$L" "layer $top: digest mismatch (got sha256:"
# A layer that is its digest but not the config's diff_id.
L=$T/diffid; good "$L"
sed -i "s/$(diff_id "$T/top.tar")/$(printf '%064d' 0)/" "$T/config"
oci_index "$L" "$(tagged "$(oci_manifest "$L" "$T/config" "$T/base.tar.gz" "$T/top.tar")" v1)"
image_config "$T/config" "$T/base.tar.gz" "$T/top.tar"
check_bad "wrong diff_id" "$L" "layer $top: diff_id mismatch (config says sha256:$(printf '%064d' 0), got $top)"
L=$T/missing; good "$L"
rm "$L/blobs/sha256/${base#sha256:}"
check_bad "missing blob" "$L" "layer $base: blob missing (blobs/sha256/${base#sha256:})"
L=$T/json; good "$L"
printf '{"schemaVersion":2,"manifests":[' >"$L/index.json"
check_bad "malformed index.json" "$L" "index.json: malformed JSON"
L=$T/media; good "$L"
sed 's/layer.v1.tar"/layer.v1.tar+bzip2"/' "$L.manifest" >"$T/manifest.bad"
oci_index "$L" "$(tagged "$(oci_blob "$L" "$T/manifest.bad" application/vnd.oci.image.manifest.v1+json)" v1)"
check_bad "unknown media type" "$L" "layer $top: unknown media type 'application/vnd.oci.image.layer.v1.tar+bzip2'"
# A truncated gzip layer, with a manifest that says so (its digest and size).
L=$T/trunc; good "$L"
head -c 30000 "$T/base.tar.gz" >"$T/short.tar.gz"
oci_index "$L" "$(tagged "$(oci_manifest "$L" "$T/config" "$T/short.tar.gz" "$T/top.tar")" v1)"
check_bad "truncated gzip" "$L" "layer sha256:$(sha "$T/short.tar.gz"):"
