# A hostile image cannot redirect ferry's default binds with a symlink so
# that the host is written to:
# - one aimed at the image's root (tmp -> /, or a symlink at the path of the
#   working directory) is refused with one line: the host's directory would
#   become the container's root, and the other mounts' mount points would be
#   made in it, on the host. Only a volume the user gives may replace the
#   root (volume_at_root.sh);
# - one that a symlink leads into another bind's host directory (srv -> tmp,
#   with the working directory under /srv) is refused: its mount point would
#   be made in the host's /tmp;
# - one that a symlink on the host's side leads to the root once the bind it
#   is below is in place (the home under /tmp, a link to /) is refused.
. "$(dirname "$0")/../lib.sh"

# The working directory: outside /tmp and the home (whose binds would hold
# it) and the system directories (/var, /usr, ...: never bound as one).
[ -d /srv ] && [ -w /srv ] || skip "/srv is not writable here"
W=$(mktemp -d /srv/ferry-redirect.XXXXXX)
at_exit 'rm -rf "$W"'
chmod 0755 "$W"
user_dir "$W/work"

# The image is made first, its tmp replaced by the symlink after: nothing
# writes through it on the host.
make_busybox_image "$T/img" >/dev/null
rmdir "$T/img/tmp" && ln -s / "$T/img/tmp"
forms="dir $T/img"
if command -v mksquashfs >/dev/null && [ -c /dev/fuse ]; then
  need_fuse
  make_squashfs "$T/img" "$T/img.sqfs" >/dev/null
  forms+=$'\n'"sqfs $T/img.sqfs"
fi
while read -r form img; do
  st=0
  err=$(as_user "$FERRY" run "$img" true 2>&1) || st=$?
  expect_eq "$st" "$EXIT_FAILURE" "$form: tmp -> / exit status"
  expect_eq "$err" \
    "ferry: run $img: the host's /tmp: /tmp leads to / in the image (a symlink): only a volume (-v) may replace the container's root" \
    "$form: tmp -> / message"
done <<<"$forms"

make_busybox_image "$T/cwd-img" >/dev/null
mkdir -p "$(dirname "$T/cwd-img$W/work")"
ln -s / "$T/cwd-img$W/work"
err=$(AS_USER_CWD=$W/work as_user "$FERRY" run "$T/cwd-img" true 2>&1) && fail "working directory -> / accepted"
expect_eq "$err" \
  "ferry: run $T/cwd-img: the host's $W/work: $W/work leads to / in the image (a symlink): only a volume (-v) may replace the container's root" \
  "working directory -> / message"
[ -z "$(ls -A "$W/work")" ] || fail "mount points were made in the host's working directory: $(ls -A "$W/work")"

# srv -> tmp: the working directory's bind would land in the host's /tmp.
make_busybox_image "$T/srv-img" >/dev/null
ln -s tmp "$T/srv-img/srv"
err=$(AS_USER_CWD=$W/work as_user "$FERRY" run "$T/srv-img" true 2>&1) && fail "srv -> tmp accepted"
expect_eq "$err" \
  "ferry: run $T/srv-img: the host's $W/work: $W/work: a symlink in the image leads it into a host directory, where ferry makes no mount point" \
  "srv -> tmp message"
[ ! -e "/tmp/$(basename "$W")" ] || fail "a mount point was made in the host's /tmp: /tmp/$(basename "$W")"

# A symlink on the host's side, found only once /tmp is bound: the home's
# bind at $T/home (below /tmp, so planned on the host's side), where the
# host's $T/home leads to /. Refused when it is mounted.
ln -s / "$T/home"
make_busybox_image "$T/plain-img" >/dev/null
err=$(as_user env HOME="$T/home" "$FERRY" run "$T/plain-img" true 2>&1) && fail "home -> / on the host accepted"
expect_eq "$err" \
  "ferry: run $T/plain-img: the host's $T/home: $T/home leads to the container's root through a symlink: only a volume (-v) may replace it" \
  "home -> / (host side) message"
