# A blob whose bytes are not those its digest says: the pull fails in one
# line naming the blob and "digest mismatch", and leaves the store as it was
# (no image, no name, no blob, nothing in tmp/), whether the config or a
# layer was corrupted, and whether or not the layer still decompresses.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/registry.bash"
. "$(dirname "$0")/pull_lib.bash"

registry_start plain
user_config "[pull]
retries = 1
[registries.\"$REGISTRY\"]
insecure = true"
# A layout of busybox and, on top, an uncompressed layer of random data: a
# flipped byte in the middle of that layer is a valid tar still.
L=$T/img
mkdir -p "$L" "$T/top/etc"
make_busybox_image "$T/base"
layer_tar "$T/base" "$T/base.tar.gz" gzip
echo v1 >"$T/top/etc/hello"
head -c 200000 /dev/urandom >"$T/top/etc/random"
layer_tar "$T/top" "$T/top.tar" none
image_config "$T/cfg.json" "$T/base.tar.gz" "$T/top.tar"
oci_index "$L" "$(tagged "$(oci_manifest "$L" "$T/cfg.json" "$T/base.tar.gz" "$T/top.tar")" v1)"
chmod -R a+rX "$L"
registry_upload_oci "$L" test/busybox:v1 >/dev/null
base=sha256:$(sha "$T/base.tar.gz")
top=sha256:$(sha "$T/top.tar")
config=sha256:$(sha "$T/cfg.json")
# The store holds an image already (a name, a SquashFS file, a blob), none
# of whose blobs the image pulled below shares.
registry_layout "$T/other" other "$(host_arch)" none >/dev/null
registry_upload_oci "$T/other" test/other:v1 >/dev/null
ferry_as_user pull -q "$REGISTRY/test/other:v1" >/dev/null
before=$(store_state)
[ -n "$before" ] || fail "the store is empty after a pull"
unchanged() {
  expect_eq "$(store_state)" "$before" "$1: the store"
  [ -z "$(ls -A "$STORE/tmp")" ] || fail "$1: tmp/ not empty: $(ls -A "$STORE/tmp")"
}

# Through the fault proxy (corrupt-blob): every blob it serves has one byte
# flipped. The config comes first, so it is the one named.
proxy_start corrupt-blob
expect_fail err pull -q --tls-verify=false "$PROXY/test/busybox:v1"
expect_contains "$err" "pull $PROXY/test/busybox:v1: " "proxy: names the reference"
expect_contains "$err" "config $config: digest mismatch" "proxy: names the config"
unchanged "corrupt config"
proxy_stop

# registry_blob DIGEST: the file the registry serves DIGEST from.
registry_blob() { echo "$REGISTRY_STORAGE/docker/registry/v2/blobs/sha256/${1:7:2}/${1#sha256:}/data"; }
REGISTRY_STORAGE=$(dirname "$REGISTRY_LOG")/storage
# flip FILE OFFSET: inverts one byte of FILE (the registry serves it as is).
flip() {
  /usr/bin/python3 -c 'import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(int(sys.argv[2])); b = f.read(1); f.seek(int(sys.argv[2])); f.write(bytes([b[0] ^ 0xff]))' "$1" "$2"
}

# The top layer, uncompressed, corrupted in its file data: only its digest
# shows it.
f=$(registry_blob "$top")
[ -f "$f" ] || fail "no blob $f in the registry's storage (distribution's layout changed?)"
flip "$f" $(($(stat -c %s "$f") / 2))
expect_fail err pull -q "$REGISTRY/test/busybox:v1"
expect_contains "$err" "layer $top: digest mismatch" "corrupt uncompressed layer"
unchanged "corrupt uncompressed layer"
flip "$f" $(($(stat -c %s "$f") / 2))

# The gzip base layer, corrupted near its start: decompression may fail
# before the download ends; either way the line names the layer, and does
# not blame a download the failure cancelled.
f=$(registry_blob "$base")
flip "$f" 100
for i in 1 2 3; do
  expect_fail err pull -q "$REGISTRY/test/busybox:v1"
  expect_contains "$err" "layer $base: " "corrupt gzip layer"
  case $err in *cancelled*) fail "corrupt gzip layer: the error blames a cancelled download: $err" ;; esac
  unchanged "corrupt gzip layer"
done
flip "$f" 100
# Repaired, it pulls.
ferry_as_user pull -q "$REGISTRY/test/busybox:v1" >/dev/null
echo "PASS: $TEST_NAME"
