# Holders are keyed by the image's content, not its name: a store entry
# replaced by a new image, a SquashFS file replaced by rename, and one
# rewritten in place each get a new holder, and containers see the new
# image, never the old mount.
. "$(dirname "$0")/../lib.sh"

need_fuse
share_setup 60
store=$T/store
user_dir "$store"
ferry_store() { as_user env FERRY_STORE="$store" XDG_RUNTIME_DIR="$XDG" XDG_CONFIG_HOME="$CFG" "$FERRY" "$@"; }
make_busybox_image "$T/img"
echo v1 >"$T/img/version"
chmod a+r "$T/img/version"

# A store name, imported again with other content.
ferry_store import "dir:$T/img" t/app:1 >/dev/null
expect_eq "$(ferry_store run t/app:1 cat /version)" v1 "first image"
k1=$(holder_keys)
echo v2 >"$T/img/version"
ferry_store import "dir:$T/img" t/app:1 >/dev/null
expect_eq "$(ferry_store run t/app:1 cat /version)" v2 "the name's new image"
expect_eq "$(holder_keys | wc -l)" 2 "holders after the name moved"
k2=$(holder_keys | grep -vx "$k1")
[ -n "$k2" ] || fail "no new holder for the new image"
expect_eq "$(holders_in_proc "$k1" | wc -w)" 1 "the old image's holder is its own"

# A SquashFS path: replaced by rename, then rewritten in place.
make_squashfs "$T/img" "$T/app.sqfs"
expect_eq "$(ferry_shared run "$T/app.sqfs" cat /version)" v2 "file, before"
echo v3 >"$T/img/version"
make_squashfs "$T/img" "$T/new.sqfs"
mv "$T/new.sqfs" "$T/app.sqfs"
expect_eq "$(ferry_shared run "$T/app.sqfs" cat /version)" v3 "file replaced by rename"
echo v4 >"$T/img/version"
make_squashfs "$T/img" "$T/new.sqfs"
cat "$T/new.sqfs" >"$T/app.sqfs"
expect_eq "$(ferry_shared run "$T/app.sqfs" cat /version)" v4 "file rewritten in place"
expect_eq "$(holder_keys | wc -l)" 5 "holders: two store images, three versions of the file"
ferry_shared umount --all >/dev/null
