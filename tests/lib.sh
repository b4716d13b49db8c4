# Prelude for ferry's integration tests: one behaviour per script (STYLE.md 15).
# Source it first. It gives a private temp dir ($T), an ERR trap that prints
# the failing line, skip (exit 77), and as_user: CI runs as root, so anything
# about rootless behaviour runs ferry as an unprivileged user made here.
set -Eeuo pipefail

# ferry's exit codes (include/ferry/core/error.hpp, ARCHITECTURE.md).
readonly EXIT_FAILURE=125 EXIT_CANNOT_EXECUTE=126 EXIT_NOT_FOUND=127

FERRY=${FERRY:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/build/ferry}
FERRY_PROBE=${FERRY_PROBE:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/build/tests/ferry-probe}
TEST_NAME=$(basename "$0" .sh)
TEST_USER=ferry-test

trap 'echo "FAIL: $TEST_NAME: line $LINENO: $BASH_COMMAND" >&2' ERR

skip() { echo "SKIP: $TEST_NAME: $*" >&2; exit 77; }
fail() { echo "FAIL: $TEST_NAME: $*" >&2; exit 1; }

# A temp dir the test user can read; removed at exit.
T=$(mktemp -d /tmp/ferry-test.XXXXXX)
chmod 0755 "$T"
# at_exit CMD: CMD (a string, eval'd) runs when the test exits, whatever
# way, before $T is removed; the last registered runs first. Fixtures stop
# their servers this way; nothing else sets the EXIT trap.
_at_exit=()
at_exit() { _at_exit=("$1" "${_at_exit[@]}"); }
_exit_work() {
  local status=$? c forms_rc=0
  trap - ERR  # clean-up that finds nothing to clean is not a failure
  for c in "${_at_exit[@]}"; do eval "$c" || true; done
  [ -f "$T/.image_forms.rc" ] && forms_rc=$(cat "$T/.image_forms.rc")
  rm -rf "$T" 2>/dev/null || true
  # image_forms runs in the "< <(image_forms)" subshell, where a failure
  # only ends the loop's input: without this the test would pass having
  # looped over nothing. A skip there (no FUSE) leaves the forms made so far.
  case $forms_rc in
    0 | 77) ;;
    *) echo "FAIL: $TEST_NAME: image_forms failed (status $forms_rc): the image forms were not all tested" >&2
       [ "$status" != 0 ] || exit 1 ;;
  esac
}
trap _exit_work EXIT

# --- the unprivileged user -------------------------------------------------
if [ "$(id -u)" = 0 ]; then
  if ! id "$TEST_USER" >/dev/null 2>&1; then
    # Tests run in parallel: one useradd at a time.
    (flock 9; id "$TEST_USER" >/dev/null 2>&1 || useradd -m -s /bin/sh "$TEST_USER") 9>/tmp/ferry-test-useradd.lock
  fi
  TEST_UID=$(id -u "$TEST_USER")
  TEST_GID=$(id -g "$TEST_USER")
  TEST_HOME=$(getent passwd "$TEST_USER" | cut -d: -f6)
else
  TEST_USER=$(id -un)
  TEST_UID=$(id -u)
  TEST_GID=$(id -g)
  TEST_HOME=$HOME
fi

# as_user CMD...: runs CMD as the unprivileged test user with a clean,
# predictable environment; from the test user's home unless told otherwise.
as_user() {
  if [ "$(id -u)" = 0 ]; then
    # exec: the subshell becomes the command, so "as_user ... &" gives $!
    # the command's own pid (setpriv and env exec too).
    (cd "${AS_USER_CWD:-$TEST_HOME}" || exit
      exec setpriv --reuid="$TEST_UID" --regid="$TEST_GID" --init-groups --reset-env \
        env HOME="$TEST_HOME" USER="$TEST_USER" LOGNAME="$TEST_USER" "$@")
  else
    (cd "${AS_USER_CWD:-$TEST_HOME}" || exit
      exec "$@")
  fi
}

# Gives the test user a directory of its own.
user_dir() {
  mkdir -p "$1"
  [ "$(id -u)" = 0 ] && chown "$TEST_UID:$TEST_GID" "$1"
  return 0
}

# free_port [N]: prints N (default 1) distinct TCP ports on 127.0.0.1 that
# nothing listened on a moment ago, one a line (the kernel picks them, all
# bound at once). Another process may take one before the caller binds it:
# fixtures retry with new ports on "address already in use".
free_port() {
  "${FIXTURE_PYTHON:-/usr/bin/python3}" -c '
import socket, sys
ss = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in ss: s.bind(("127.0.0.1", 0))
print("\n".join(str(s.getsockname()[1]) for s in ss))' "${1:-1}"
}

# --- images ----------------------------------------------------------------
# make_busybox_image DIR: a small root file system from Debian's busybox-static,
# with the probe in /probe. It has no /home and no /work, on purpose.
make_busybox_image() {
  local root=$1
  [ -x /bin/busybox ] || skip "busybox-static is not installed"
  mkdir -p "$root"/{bin,etc,dev,proc,sys,tmp,usr/bin}
  cp /bin/busybox "$root/bin/busybox"
  local a
  for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -s busybox "$root/bin/$a"; done
  cp "$FERRY_PROBE" "$root/probe"
  printf 'NAME="ferry test image"\nID=ferrytest\n' >"$root/etc/os-release"
  echo 'root:x:0:0:root:/root:/bin/sh' >"$root/etc/passwd"
  echo 'root:x:0:' >"$root/etc/group"
  chmod -R a+rX "$root"
}

# make_squashfs DIR FILE: packs DIR as ferry stores images (zstd, root-owned).
make_squashfs() {
  command -v mksquashfs >/dev/null || skip "squashfs-tools is not installed"
  mksquashfs "$1" "$2" -comp zstd -noappend -quiet -all-root >/dev/null
  chmod a+r "$2"
}

# The test user must be able to open /dev/fuse for SquashFS images. Debian
# ships it 0600; sites set 0666, and so does the test setup (as root).
need_fuse() {
  [ -c /dev/fuse ] || skip "/dev/fuse does not exist"
  if [ "$(id -u)" = 0 ]; then chmod 0666 /dev/fuse; fi
  as_user test -w /dev/fuse || skip "/dev/fuse is not usable by $TEST_USER"
}

# image_forms: prints "dir PATH" and "sqfs PATH" for a busybox image made in
# $T, so a test can loop over both forms and check they behave the same.
image_forms() {
  trap '{ echo $? >"$T/.image_forms.rc"; } 2>/dev/null' EXIT  # this subshell's; _exit_work reads it
  make_busybox_image "$T/img" >&2
  echo "dir $T/img"
  if command -v mksquashfs >/dev/null && [ -c /dev/fuse ]; then
    need_fuse >&2
    make_squashfs "$T/img" "$T/img.sqfs" >&2
    echo "sqfs $T/img.sqfs"
  fi
}

# small_store SIZE: a store for the test user on a tmpfs of SIZE at
# $T/small (root only: skips if it cannot be mounted), unmounted at exit;
# sets $store and ferry_as_user (ferry as the test user with that store).
small_store() {
  mkdir "$T/small"
  mount -t tmpfs -o "size=$1,mode=0755" tmpfs "$T/small" || skip "cannot mount tmpfs"
  at_exit 'umount "$T/small"'
  store="$T/small/store"
  user_dir "$store"
  ferry_as_user() { as_user env FERRY_STORE="$store" "$FERRY" "$@"; }
}

# --- assertions --------------------------------------------------------------
expect_eq() { [ "$1" = "$2" ] || fail "${3:-value}: expected '$2', got '$1'"; }
expect_contains() {
  case "$1" in *"$2"*) ;; *) fail "${3:-output}: expected to contain '$2', got '$1'" ;; esac
}
# expect_status N CMD...: runs CMD, checks its exit status is N.
expect_status() {
  local want=$1 got=0
  shift
  "$@" || got=$?
  [ "$got" = "$want" ] || fail "'$*': exit status $got, expected $want"
}

# --- shared image mounts -------------------------------------------------------
# share_setup [GRACE]: this test's own rendezvous directory ($XDG, as
# XDG_RUNTIME_DIR) and ferry.toml ($CFG, as XDG_CONFIG_HOME) with
# [mounts] grace = GRACE (default 1 s), so that its mount holders are
# apart from other tests' and end soon.
share_setup() {
  XDG=$T/xdg
  CFG=$T/cfg
  mkdir -p "$XDG" "$CFG/ferry"
  chmod 0700 "$XDG"
  printf '[mounts]\ngrace = %s\n' "${1:-1}" >"$CFG/ferry/ferry.toml"
  chmod -R a+rX "$CFG"
  if [ "$(id -u)" = 0 ]; then chown "$TEST_UID:$TEST_GID" "$XDG"; fi
  return 0
}

# ferry_shared ARG...: ferry as the test user with share_setup's directories.
ferry_shared() { as_user env XDG_RUNTIME_DIR="$XDG" XDG_CONFIG_HOME="$CFG" "$FERRY" "$@"; }

# holder_keys: the keys of this test's live mount holders, as ferry lists them.
holder_keys() { ferry_shared mounts --format json | /usr/bin/python3 -c 'import json,sys; [print(h["Key"]) for h in json.load(sys.stdin)]'; }

# holders_in_proc KEY [IMAGE]: the pids of mount-holder processes for KEY
# ("*": any) and, when given, of IMAGE, found in /proc by their command line
# (not by asking ferry).
holders_in_proc() {
  local d key=$1 image=${2:-*}
  for d in /proc/[0-9]*; do
    # Not tr | grep -q: under pipefail a SIGPIPE to tr would hide a holder.
    # shellcheck disable=SC2053  # $key and $image are globs
    [[ "$({ tr '\0' ' ' <"$d/cmdline"; } 2>/dev/null)" == *"mount-holder --key "$key" "*" -- "$image" " ]] &&
      echo "${d#/proc/}"
  done
  return 0
}

# mount_devs AWK_CONDITION PID...: the distinct device numbers of the
# mounts the processes see that match the condition (on a mountinfo line).
mount_devs() {
  local cond=$1 p
  shift
  for p in "$@"; do awk "$cond {print \$3}" "/proc/$p/mountinfo" 2>/dev/null; done | sort -u
}

# fuse_devs PID...: the distinct device numbers of the fuse.ferry mounts the
# processes see: one per FUSE connection, however many namespaces show it.
fuse_devs() { mount_devs '$0 ~ / - fuse.ferry /' "$@"; }

# has_fuse_fd PID: the process has /dev/fuse open (by device number: a path
# seen through another mount namespace may read differently).
has_fuse_fd() {
  local want f
  want=$(stat -c '%t:%T' /dev/fuse)
  for f in "/proc/$1/fd/"*; do
    [ "$(stat -L -c '%t:%T' "$f" 2>/dev/null)" = "$want" ] && return 0
  done
  return 1
}

# alive PID: the process exists and is not a zombie. A status file that
# cannot be read (the process is being reaped) counts as gone.
alive() {
  local state
  state=$(awk '/^State:/ {print $2}' "/proc/$1/status" 2>/dev/null) || return 1
  [ -n "$state" ] && [ "$state" != Z ]
}

# wait_gone PID [TENTHS]: waits for PID to exit (default 10 s); false if not.
wait_gone() {
  local i
  for i in $(seq "${2:-100}"); do alive "$1" || return 0; sleep 0.1; done
  return 1
}
