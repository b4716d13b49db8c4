# Mount points a directory image lacks in its own directories (/home/USER
# in /home, /etc/hosts in /etc) come from an overlay on each of those
# directories, not on the root, so that lookups elsewhere in the image pass
# through no overlay; the directories still show all the image's files.
# Points under a missing directory share its top-most overlay; a point in
# the root itself, --writable-tmpfs, or a private SquashFS mount (FUSE:
# overlayfs spares each ioctl a round trip to the server) get the root
# overlay. A container joining a mount holder takes the holder's overlay of
# its FUSE mount as the root (the same one in every container: its caches
# stay warm), in which the holder has made the standard mount points the
# image lacks (/home/USER, /etc/hosts): no overlay of its own, unless it has
# points of its own (a volume), which get overlays as for a directory.
. "$(dirname "$0")/../lib.sh"

make_busybox_image "$T/img"
mkdir -m 0755 "$T/img/home"
echo marker >"$T/img/etc/marker"
chmod a+r "$T/img/etc/marker"
mkdir -m 0777 "$T/vol"

# fstype MOUNTINFO PATH: the file system type of the mount at PATH (the
# last one listed there), or "none".
fstype() { printf '%s\n' "$1" | awk -v p="$2" '$5 == p { for (i = 7; $i != "-"; i++); t = $(i + 1) } END { print t ? t : "none" }'; }
# overlays MOUNTINFO: how many overlay mounts it lists.
root_dev() { printf '%s\n' "$1" | awk '$5 == "/" { d = $3 } END { print d }'; }
requests() { ferry_shared mounts --format json | /usr/bin/python3 -c 'import json,sys; print(sum(h["Requests"] for h in json.load(sys.stdin)))'; }
overlays() { printf '%s\n' "$1" | awk '{ for (i = 7; $i != "-"; i++); if ($(i + 1) == "overlay") n++ } END { print n + 0 }'; }

info=$(as_user "$FERRY" run "$T/img" cat /proc/self/mountinfo)
[ "$(fstype "$info" /)" != overlay ] || fail "the root is an overlay: $(fstype "$info" /)"
expect_eq "$(fstype "$info" /home)" overlay "/home"
expect_eq "$(fstype "$info" /etc)" overlay "/etc"
expect_eq "$(overlays "$info")" 2 "overlays"
out=$(as_user "$FERRY" run "$T/img" sh -c 'cat /etc/marker /etc/os-release; cat /etc/hosts | head -1; ls -d "$HOME"; id -un')
expect_eq "$out" "$(printf 'marker\n%s\n%s\n%s\n%s' "$(cat "$T/img/etc/os-release")" "$(head -1 /etc/hosts)" "$TEST_HOME" "$TEST_USER")" "files through the overlays"
out=$(as_user "$FERRY" run "$T/img" /probe mount /etc)
expect_contains "$out" "ro=1" "/etc read-only"
expect_contains "$out" "nosuid=1" "/etc nosuid"
expect_contains "$out" "nodev=1" "/etc nodev"
expect_status 1 as_user "$FERRY" run "$T/img" touch /etc/new
[ ! -e "$T/img/home/$TEST_USER" ] && [ ! -e "$T/img/etc/hosts" ] || fail "a mount point was made in the image"

# Points below a missing directory: one overlay, on /etc, holds them all.
expect_eq "$(as_user "$FERRY" run -v "$T/vol:/etc/deep/er" "$T/img" ls /etc/deep)" er "/etc/deep"
info=$(as_user "$FERRY" run -v "$T/vol:/etc/deep/er" "$T/img" cat /proc/self/mountinfo)
expect_eq "$(overlays "$info")" 2 "overlays with /etc/deep/er"
expect_eq "$(fstype "$info" /etc)" overlay "/etc with /etc/deep/er"
# A point in the root itself: one overlay, on the root.
info=$(as_user "$FERRY" run -v "$T/vol:/newtop" "$T/img" cat /proc/self/mountinfo)
expect_eq "$(fstype "$info" /)" overlay "the root with /newtop"
expect_eq "$(fstype "$info" /etc)" none "/etc with /newtop"
# --writable-tmpfs writes anywhere: the root overlay.
info=$(as_user "$FERRY" run --writable-tmpfs "$T/img" cat /proc/self/mountinfo)
expect_eq "$(fstype "$info" /)" overlay "the root with --writable-tmpfs"

if command -v mksquashfs >/dev/null && [ -c /dev/fuse ]; then
  need_fuse
  make_squashfs "$T/img" "$T/img.sqfs"
  info=$(as_user "$FERRY" run --no-share "$T/img.sqfs" cat /proc/self/mountinfo)
  expect_eq "$(fstype "$info" /)" overlay "the root of a SquashFS image"
  expect_eq "$(fstype "$info" /etc)" none "/etc of a SquashFS image"

  share_setup 60
  info=$(ferry_shared run "$T/img.sqfs" cat /proc/self/mountinfo)
  expect_eq "$(fstype "$info" /)" overlay "the root of a joined SquashFS image"
  expect_eq "$(fstype "$info" /etc)" none "/etc of a joined SquashFS image"
  expect_eq "$(fstype "$info" /home)" none "/home of a joined SquashFS image"
  [ "$(fstype "$info" "$TEST_HOME")" != none ] || fail "$TEST_HOME is not bound in a joined SquashFS image"
  info=$(ferry_shared run -v "$T/vol:/etc/deep/er" "$T/img.sqfs" cat /proc/self/mountinfo)
  expect_eq "$(fstype "$info" /etc)" overlay "/etc of a joined SquashFS image with /etc/deep/er"
  expect_eq "$(ferry_shared run -v "$T/vol:/etc/deep/er" "$T/img.sqfs" ls /etc/deep)" er "/etc/deep, joined"
  # Two containers at once (a device number is reused once free): one root.
  mkdir -m 0777 "$T/u"
  ferry_shared run -v "$T/u:/home/u" "$T/img.sqfs" sh -c 'cat /proc/self/mountinfo >/home/u/a.tmp; mv /home/u/a.tmp /home/u/a
    i=0; while [ ! -e /home/u/go ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i + 1)); done' &
  for _ in $(seq 200); do [ -e "$T/u/a" ] && break; sleep 0.05; done
  info2=$(ferry_shared run "$T/img.sqfs" cat /proc/self/mountinfo)
  touch "$T/u/go"
  wait $!
  expect_eq "$(root_dev "$info2")" "$(root_dev "$(cat "$T/u/a")")" "the root's device in two joined containers"
  out=$(ferry_shared run "$T/img.sqfs" sh -c 'cat /etc/marker; head -1 /etc/hosts; ls -d "$HOME"; id -un')
  expect_eq "$out" "$(printf 'marker\n%s\n%s\n%s' "$(head -1 /etc/hosts)" "$TEST_HOME" "$TEST_USER")" \
    "files of a joined SquashFS image"
  out=$(ferry_shared run "$T/img.sqfs" /probe mount /)
  expect_contains "$out" "ro=1" "the joined root read-only"
  expect_contains "$out" "nosuid=1" "the joined root nosuid"
  expect_contains "$out" "nodev=1" "the joined root nodev"
  # isatty() on an image file is answered by the overlay, not sent to the
  # FUSE server: 50 of them, in a warm container, cost no request.
  tty50='for i in $(seq 50); do [ -t 3 ] 3</bin/busybox && exit 9; done; exit 0'
  ferry_shared run "$T/img.sqfs" sh -c "$tty50"
  before=$(requests)
  ferry_shared run "$T/img.sqfs" sh -c "$tty50"
  after=$(requests)
  [ $((after - before)) -lt 25 ] || fail "50 isatty() calls cost $((after - before)) FUSE requests"
  ferry_shared umount --all >/dev/null
fi
