# When /dev/fuse is not usable by the user, a SquashFS image fails with one
# line that names /dev/fuse and the fix (mode 0666), exit 125; a directory
# image, which needs no FUSE, still runs.
. "$(dirname "$0")/../lib.sh"

[ "$(id -u)" = 0 ] || skip "needs root to hide /dev/fuse in a private mount namespace"
command -v mksquashfs >/dev/null || skip "squashfs-tools is not installed"
need_fuse
make_busybox_image "$T/img"
make_squashfs "$T/img" "$T/img.sqfs"

# A root-only file over /dev/fuse, in a mount namespace of its own: the real
# /dev/fuse, which tests running beside this one use, is left alone.
touch "$T/fuse"
chmod 0600 "$T/fuse"
hidden_fuse() {
  unshare -m --propagation private sh -c 'mount --bind "$1" /dev/fuse && shift && cd "$HOME_DIR" && exec "$@"' \
    sh "$T/fuse" setpriv --reuid="$TEST_UID" --regid="$TEST_GID" --init-groups --reset-env \
    env HOME="$TEST_HOME" USER="$TEST_USER" LOGNAME="$TEST_USER" "$FERRY" "$@"
}
export HOME_DIR=$TEST_HOME

# The same command works with the real /dev/fuse: what fails below is FUSE.
# (--no-share: a shared mount holder started here would serve the runs below.)
expect_status 0 as_user "$FERRY" run --no-share "$T/img.sqfs" true

# A private mount fails in ferry itself; a shared one in the mount holder
# ferry starts, which passes its error back: the same line either way.
for share in --no-share ""; do
  st=0
  err=$(hidden_fuse run $share "$T/img.sqfs" true 2>&1) || st=$?
  expect_eq "$st" "$EXIT_FAILURE" "exit status ($share)"
  expect_eq "$err" "ferry: run $T/img.sqfs: open /dev/fuse (FUSE is not usable by this user: /dev/fuse must be mode 0666, as sites set it, to run SquashFS images): Permission denied" \
    "message ($share)"
  expect_eq "$(printf '%s\n' "$err" | wc -l)" 1 "one line ($share)"
done

expect_eq "$(hidden_fuse run "$T/img" echo dir-ok)" dir-ok "directory image without FUSE"
