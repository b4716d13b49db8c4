# The rendezvous directory is the user's own or not used: a ferry directory
# under XDG_RUNTIME_DIR that belongs to someone else, is a symlink, or is
# open to others is refused with one line (--no-share still runs); an
# XDG_RUNTIME_DIR that is not the user's own is passed over for
# /tmp/ferry-UID, made 0700.
. "$(dirname "$0")/../lib.sh"

[ "$(id -u)" = 0 ] || skip "needs root to make directories of another owner"
need_fuse
share_setup 1
make_busybox_image "$T/img"
make_squashfs "$T/img" "$T/img.sqfs"

# xdg NAME: a private XDG_RUNTIME_DIR of the test user at $T/NAME.
xdg() { mkdir -m 0700 "$T/$1" && chown "$TEST_UID:$TEST_GID" "$T/$1"; }
refused() {
  local dir=$1 why=$2 st=0 err
  err=$(as_user env XDG_RUNTIME_DIR="$dir" XDG_CONFIG_HOME="$CFG" "$FERRY" run "$T/img.sqfs" true 2>&1) || st=$?
  expect_eq "$st" "$EXIT_FAILURE" "exit status with $dir/ferry ($why)"
  expect_eq "$err" "ferry: run $T/img.sqfs: rendezvous directory $dir/ferry $why; refusing to use it for shared mounts" "message"
  expect_eq "$(as_user env XDG_RUNTIME_DIR="$dir" "$FERRY" run --no-share "$T/img.sqfs" echo ok)" ok "--no-share with $dir/ferry ($why)"
}

xdg x1
mkdir -m 0700 "$T/x1/ferry"  # root's
refused "$T/x1" "belongs to another user"
expect_eq "$(ls -A "$T/x1/ferry")" "" "nothing made in root's directory"

xdg x2
mkdir -m 0700 "$T/elsewhere"
chown "$TEST_UID:$TEST_GID" "$T/elsewhere"
ln -s "$T/elsewhere" "$T/x2/ferry"
refused "$T/x2" "is not a directory"
expect_eq "$(ls -A "$T/elsewhere")" "" "nothing made through the symlink"

xdg x3
mkdir -m 0755 "$T/x3/ferry"
chown "$TEST_UID:$TEST_GID" "$T/x3/ferry"
refused "$T/x3" "is open to other users (want mode 0700)"

# Not the user's own XDG_RUNTIME_DIR: /tmp/ferry-UID instead.
mkdir -m 0700 "$T/x4"
expect_eq "$(as_user env XDG_RUNTIME_DIR="$T/x4" XDG_CONFIG_HOME="$CFG" "$FERRY" run "$T/img.sqfs" echo ok)" ok "run with root's XDG_RUNTIME_DIR"
expect_eq "$(ls -A "$T/x4")" "" "nothing made in root's XDG_RUNTIME_DIR"
expect_eq "$(stat -c '%u %a' "/tmp/ferry-$TEST_UID" "/tmp/ferry-$TEST_UID/mounts" | tr '\n' ' ')" \
  "$TEST_UID 700 $TEST_UID 700 " "owner and mode of /tmp/ferry-UID"
as_user env XDG_RUNTIME_DIR="$T/x4" "$FERRY" umount "$T/img.sqfs" >/dev/null
