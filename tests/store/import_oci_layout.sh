# An OCI image layout with two tags (gzip, zstd and plain layers, a whiteout)
# imports tag by tag, as a directory (oci:) and as a tar (oci-archive:); an
# index of per-platform manifests resolves to this machine's.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/image_fixtures.bash"
command -v unsquashfs >/dev/null || skip "squashfs-tools is not installed"

L=$T/layout
mkdir -p "$L"
for v in one two; do
  two_layer_trees "$T/$v" "$v"
done
layer_tar "$T/one/base" "$T/base.tar.gz" gzip
layer_tar "$T/one/top" "$T/one.tar.zst" zstd
layer_tar "$T/two/top" "$T/two.tar" none
image_config "$T/c1" "$T/base.tar.gz" "$T/one.tar.zst"
image_config "$T/c2" "$T/base.tar.gz" "$T/two.tar"
m1=$(oci_manifest "$L" "$T/c1" "$T/base.tar.gz" "$T/one.tar.zst")
m2=$(oci_manifest "$L" "$T/c2" "$T/base.tar.gz" "$T/two.tar")
oci_index "$L" "$(tagged "$m1" v1)" "$(tagged "$m2" v2)"
chmod -R a+rX "$T"
store="$T/store"
user_dir "$store"
ferry_as_user() { as_user env FERRY_STORE="$store" "$FERRY" "$@"; }
image_of() { echo "$store/images/${1#sha256:}.sqfs"; }

id1=$(ferry_as_user import "oci:$L:v1" test/oci:v1)
id2=$(ferry_as_user import "oci:$L:v2" test/oci:v2)
expect_eq "$id1" "sha256:$(sha "$T/c1")" "image id is the config digest"
expect_eq "$id2" "sha256:$(sha "$T/c2")" "second tag's id"
expect_eq "$(unsquashfs -cat "$(image_of "$id1")" etc/hello)" one "tag v1 content"
expect_eq "$(unsquashfs -cat "$(image_of "$id2")" etc/hello)" two "tag v2 content"
cmp "$T/c1" "$store/images/${id1#sha256:}.sqfs.config.json" || fail "config not stored byte for byte"
list=$(unsquashfs -lln "$(image_of "$id1")")
expect_contains "$list" "etc/passwd" "base layer present"
expect_contains "$list" "etc/hello.link -> hello" "symlink kept"
case $list in *etc/group*) fail "whiteout did not remove etc/group" ;; esac

# Without a tag, two tags are ambiguous; without a NAME there is none to use.
err=$(ferry_as_user import "oci:$L" test/x 2>&1) && fail "untagged import of a two-tag layout succeeded"
expect_contains "$err" "2 tags; name one as oci:DIR:TAG (tags: v1, v2)" "ambiguity message"
err=$(ferry_as_user import "oci:$L:v3" test/x 2>&1) && fail "import of a missing tag succeeded"
expect_contains "$err" "no image tagged 'v3'" "missing tag message"
err=$(ferry_as_user import "oci:$L:v1" 2>&1) && fail "import without a NAME succeeded"
expect_contains "$err" "give a NAME[:TAG]" "NAME required"

# The same layout as a tar gives the same image, byte for byte.
tar -C "$L" -cf "$T/layout.tar" .
chmod a+r "$T/layout.tar"
sum=$(sha256sum <"$(image_of "$id2")")
rm "$(image_of "$id2")"
expect_eq "$(ferry_as_user import "oci-archive:$T/layout.tar:v2" test/arch:v2)" "$id2" "oci-archive id"
expect_eq "$(sha256sum <"$(image_of "$id2")")" "$sum" "oci-archive gives the same bytes"

# A nested index with two platforms: this machine's is taken.
P=$T/multi
mkdir -p "$P"
image_config "$T/c3" "$T/base.tar.gz" "$T/two.tar"
sed -i 's/"architecture":"[^"]*"/"architecture":"elsewhere"/' "$T/c3"
mo=$(oci_manifest "$P" "$T/c3" "$T/base.tar.gz" "$T/one.tar.zst")
mh=$(oci_manifest "$P" "$T/c2" "$T/base.tar.gz" "$T/two.tar")
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[%s,"platform":{"os":"linux","architecture":"elsewhere"}},%s,"platform":{"os":"linux","architecture":"%s"}}]}' \
  "${mo%\}}" "${mh%\}}" "$(host_arch)" >"$T/idx"
oci_index "$P" "$(tagged "$(oci_blob "$P" "$T/idx" application/vnd.oci.image.index.v1+json)" latest)"
chmod -R a+rX "$P"
expect_eq "$(ferry_as_user import "oci:$P" test/multi)" "$id2" "the host platform's manifest"
sed -i "s/\"architecture\":\"$(host_arch)\"/\"architecture\":\"nowhere\"/" "$T/idx"
oci_index "$P" "$(tagged "$(oci_blob "$P" "$T/idx" application/vnd.oci.image.index.v1+json)" latest)"
err=$(ferry_as_user import "oci:$P" test/multi 2>&1) && fail "import with no manifest for this platform succeeded"
expect_contains "$err" "no image for linux/$(host_arch)" "platform message"
