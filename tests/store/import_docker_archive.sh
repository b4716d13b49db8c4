# `docker save` archives in both layouts Docker has written (legacy
# <id>/layer.tar + <hex>.json; Docker 25+ with an OCI layout inside) import
# under their RepoTags, and `ferry run` applies the config's Env and Cmd.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/image_fixtures.bash"
need_fuse

two_layer_trees "$T/t" hello-from-docker
layer_tar "$T/t/base" "$T/base.tar" none
layer_tar "$T/t/top" "$T/top.tar" none
image_config "$T/config" "$T/base.tar" "$T/top.tar"
cid=$(sha "$T/config")

# Legacy (Docker < 25): <hex>.json, <layer id>/layer.tar.
A=$T/legacy
mkdir -p "$A/aaaa" "$A/bbbb"
cp "$T/config" "$A/$cid.json"
cp "$T/base.tar" "$A/aaaa/layer.tar"
cp "$T/top.tar" "$A/bbbb/layer.tar"
printf '[{"Config":"%s.json","RepoTags":["example.org/legacy:1.0"],"Layers":["aaaa/layer.tar","bbbb/layer.tar"]}]' "$cid" >"$A/manifest.json"
tar -C "$A" -cf "$T/legacy.tar" .

# Docker 25+: blobs/sha256 with the legacy names as symlinks into it; the
# second layer gzip-compressed, as images pulled from a registry keep them.
B=$T/modern
mkdir -p "$B/bbbb"
gzip -n -c "$T/top.tar" >"$T/top.tar.gz"
m=$(oci_manifest "$B" "$T/config" "$T/base.tar" "$T/top.tar.gz")
oci_index "$B" "$(tagged "$m" modern:2.0)"
ln -s "../blobs/sha256/$(sha "$T/top.tar.gz")" "$B/bbbb/layer.tar"
printf '[{"Config":"blobs/sha256/%s","RepoTags":["modern:2.0","example.org/modern:latest"],"Layers":["blobs/sha256/%s","bbbb/layer.tar"]}]' \
  "$cid" "$(sha "$T/base.tar")" >"$B/manifest.json"
tar -C "$B" -cf "$T/modern.tar" .
chmod a+r "$T"/*.tar
store="$T/store"
user_dir "$store"
ferry_as_user() { as_user env FERRY_STORE="$store" "$FERRY" "$@"; }

expect_eq "$(ferry_as_user import "docker-archive:$T/legacy.tar")" "sha256:$cid" "legacy: id = config digest"
expect_eq "$(ferry_as_user import "docker-archive:$T/modern.tar")" "sha256:$cid" "modern: same image"
names=$(ferry_as_user images --format json)
expect_contains "$names" '"Repository": "example.org/legacy"' "RepoTags name the image"
expect_contains "$names" '"Repository": "modern"' "every RepoTag"
expect_contains "$names" '"Repository": "example.org/modern"' "every RepoTag (2)"
expect_eq "$(ls "$store"/images/*.sqfs | wc -l)" 1 "stored once"
expect_eq "$(ferry_as_user import "docker-archive:$T/modern.tar" mine/renamed:x)" "sha256:$cid" "NAME given"
expect_eq "$(ferry_as_user run mine/renamed:x)" hello-from-docker "Cmd applies"
# ferry keeps the caller's working directory when it exists in the container
# (docs/design/runtime.md); the config's WorkingDir is kept for the others.
expect_contains "$(ferry_as_user inspect example.org/legacy:1.0)" '"WorkingDir": "/etc"' "config kept"
expect_eq "$(ferry_as_user run modern:2.0 sh -c 'echo $FIXTURE')" config "Env applies"
# The whiteout in the top layer removed etc/group (ferry run would add its own).
case $(unsquashfs -lln "$store"/images/*.sqfs) in *etc/group*) fail "whiteout ignored" ;; esac
