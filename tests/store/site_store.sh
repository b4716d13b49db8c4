# An image an administrator put in the site-wide store ([store] site in the
# site's ferry.toml) is found by name and listed, after the user's own; a
# malformed configuration is one line naming file, line and column.
. "$(dirname "$0")/../lib.sh"
need_fuse

make_busybox_image "$T/rootfs"
tar -C "$T/rootfs" -cf "$T/rootfs.tar" .
chmod a+r "$T/rootfs.tar"
# The administrator's side (here the same machine, any user): a store made
# readable by everyone, and the site configuration naming it.
FERRY_STORE="$T/site" "$FERRY" import "tar:$T/rootfs.tar" site/tools:1 >/dev/null
chmod -R a+rX "$T/site"
printf '# site configuration\n[store]\nsite = "%s"\n' "$T/site" >"$T/site.toml"
user_dir "$T/user"
ferry_as_user() { as_user env FERRY_STORE="$T/user" FERRY_SITE_CONFIG="$T/site.toml" "$FERRY" "$@"; }

expect_eq "$(ferry_as_user run site/tools:1 cat /etc/os-release | head -1)" 'NAME="ferry test image"' "run from the site store"
list=$(ferry_as_user images)
expect_contains "$list" "site/tools" "images lists site images"
expect_eq "$(awk '$1 == "site/tools" { print $NF }' <<<"$list")" site "marked as site"
expect_contains "$(ferry_as_user images --format json)" '"Store": "site"' "json store field"
expect_contains "$(ferry_as_user inspect site/tools:1)" "$T/site/images/" "inspect shows the site file"
[ ! -e "$T/user/repositories.json" ] || fail "looking up a site image wrote to the user's store"

# The user's own image of the same name comes first.
mkdir -p "$T/rootfs2/bin" && cp -a "$T/rootfs/." "$T/rootfs2/" && echo 'NAME="mine"' >"$T/rootfs2/etc/os-release"
tar -C "$T/rootfs2" -cf "$T/mine.tar" . && chmod a+r "$T/mine.tar"
ferry_as_user import "tar:$T/mine.tar" site/tools:1 >/dev/null
expect_eq "$(ferry_as_user run site/tools:1 cat /etc/os-release)" 'NAME="mine"' "user store first"

printf '[store]\nsite = "%s"\nmirror = "x"\n' "$T/site" >"$T/site.toml"
err=$(ferry_as_user run other/name true 2>&1) && fail "a malformed configuration was accepted"
expect_eq "$err" "ferry: run other/name: $T/site.toml:3:1: unknown key 'mirror' in [store]" "config error"
expect_status "$EXIT_FAILURE" ferry_as_user run other/name true
