# A setuid-root or setgid-root file in the image gives the user nothing:
# the probe still reports the user's own euid/egid, from a directory image
# and from a SquashFS that keeps the owners and modes (no -all-root).
. "$(dirname "$0")/../lib.sh"

[ "$(id -u)" = 0 ] || skip "needs root to make root-owned setuid files"

# A here-string, not printf | grep -q: bash's printf writes a line at a
# time into a pipe, and under pipefail the SIGPIPE it gets once grep -q has
# found its line failed the check now and then.
expect_line() { grep -qxF -- "$2" <<<"$1" || fail "$3: expected a line '$2' in: $(echo $1)"; }

make_busybox_image "$T/img"
cp "$FERRY_PROBE" "$T/img/suid-probe"
cp "$FERRY_PROBE" "$T/img/sgid-probe"
chown root:root "$T/img/suid-probe" "$T/img/sgid-probe"
chmod 4755 "$T/img/suid-probe"
chmod 2755 "$T/img/sgid-probe"
[ "$(stat -c %a:%u "$T/img/suid-probe")" = 4755:0 ] || fail "could not make a setuid-root file"

forms="dir $T/img"
if command -v mksquashfs >/dev/null && [ -c /dev/fuse ]; then
  need_fuse
  mksquashfs "$T/img" "$T/img.sqfs" -comp zstd -noappend -quiet >/dev/null
  chmod a+r "$T/img.sqfs"
  # The precondition of the test: the SquashFS keeps the bits and the owner.
  listing=$(unsquashfs -lln "$T/img.sqfs" 2>/dev/null) || fail "unsquashfs failed"
  expect_contains "$listing" "-rwsr-xr-x 0/0" "setuid-root file in the SquashFS"
  expect_contains "$listing" "-rwxr-sr-x 0/0" "setgid-root file in the SquashFS"
  forms="$forms
sqfs $T/img.sqfs"
fi

while read -r form img; do
  out=$(as_user "$FERRY" run "$img" /suid-probe)
  expect_line "$out" "uid=$TEST_UID" "$form setuid probe uid"
  expect_line "$out" "euid=$TEST_UID" "$form setuid probe euid"
  expect_line "$out" "CapEff=0000000000000000" "$form setuid probe CapEff"
  expect_line "$out" "CapPrm=0000000000000000" "$form setuid probe CapPrm"
  out=$(as_user "$FERRY" run "$img" /sgid-probe)
  expect_line "$out" "gid=$TEST_GID" "$form setgid probe gid"
  expect_line "$out" "egid=$TEST_GID" "$form setgid probe egid"
  # The bits are still visible: it is ferry, not the image, that makes them inert.
  mode=$(as_user "$FERRY" run "$img" stat -c %A /suid-probe)
  expect_eq "$mode" "-rwsr-xr-x" "$form setuid bit visible inside"
done <<<"$forms"
