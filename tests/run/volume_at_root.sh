# A volume mounted on the container root itself, spelt / or reached through
# a symlink in the image (r -> /), replaces the root: the binds made after
# it (here the host's /etc/hosts, a deeper default) land in the new root, not
# in the tree it covers.
. "$(dirname "$0")/../lib.sh"

make_busybox_image "$T/img" >/dev/null
cp -a "$T/img" "$T/linked"
ln -s / "$T/linked/r"
cp -a "$T/img" "$T/newroot"
echo new-root >"$T/newroot/marker"
echo "the new root's own hosts file" >"$T/newroot/etc/hosts"
chown -R "$TEST_UID:$TEST_GID" "$T/newroot"
want=$(printf 'new-root\n%s' "$(cat /etc/hosts)")

out=$(as_user "$FERRY" run -v "$T/newroot:/" "$T/img" cat /marker /etc/hosts) || fail "volume at /: $out"
expect_eq "$out" "$want" "volume at /: the marker, then the host's /etc/hosts bound in the new root"

out=$(as_user "$FERRY" run -v "$T/newroot:/r" "$T/linked" cat /marker /etc/hosts) || fail "volume at /r -> /: $out"
expect_eq "$out" "$want" "volume at /r (a symlink to /): the marker, then the host's /etc/hosts bound in the new root"
