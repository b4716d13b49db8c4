# A volume mounted on the container root itself, spelt / or reached through
# a symlink in the image (r -> /), replaces the root: it is mounted first,
# whatever the depth of its spelling, and everything else lands in the new
# root, not in the tree it covers: the host's /etc/hosts (a deeper default),
# /dev and /proc (defaults as deep as /r), and the generated /etc/passwd
# with the user's entry (the new root's own has none).
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

# What /r covered before it was mounted first: /dev, /proc and the user's
# /etc/passwd entry were empty, or the new root's own.
for spec in "$T/newroot:/ $T/img" "$T/newroot:/r $T/linked"; do
  set -- $spec
  out=$(as_user "$FERRY" run -v "$1" "$2" sh -c \
    'test -c /dev/null && echo dev; test -r /proc/self/status && echo proc; grep -c "^$(id -un):" /etc/passwd') ||
    fail "volume $1: $out"
  expect_eq "$out" "$(printf 'dev\nproc\n1')" "volume $1: /dev, /proc and the user's /etc/passwd entry in the new root"
done
