# Two imports of the same image at once both succeed and store it once; an
# import killed with SIGKILL leaves the store as it was, and its temporary
# file is cleaned by the next run.
. "$(dirname "$0")/../lib.sh"
need_fuse

make_busybox_image "$T/rootfs"
# Big enough that the import takes a moment: the busybox tree plus 120 MB
# of incompressible data (the kill below must land mid-import).
head -c 120000000 /dev/urandom >"$T/rootfs/blob"
chmod a+r "$T/rootfs/blob"
tar -C "$T/rootfs" -cf "$T/img.tar" .
chmod a+r "$T/img.tar"
store="$T/store"
user_dir "$store"
ferry_as_user() { as_user env FERRY_STORE="$store" "$FERRY" "$@"; }

ferry_as_user import "tar:$T/img.tar" same/a >"$T/a.out" 2>&1 &
a=$!
ferry_as_user import "tar:$T/img.tar" same/b >"$T/b.out" 2>&1 &
b=$!
wait $a || fail "first concurrent import failed: $(cat "$T/a.out")"
wait $b || fail "second concurrent import failed: $(cat "$T/b.out")"
expect_eq "$(ls "$store"/images/*.sqfs | wc -l)" 1 "one image file for two imports"
expect_eq "$(ferry_as_user run same/a cat /etc/os-release | head -1)" "$(ferry_as_user run same/b cat /etc/os-release | head -1)" "both names run"

snapshot() { (cd "$store" && find . -path ./lock -prune -o -printf '%p %s\n' | sort; cat repositories.json) | sha256sum; }
before=$(snapshot)
ferry_as_user import "tar:$T/img.tar" killed/c >/dev/null 2>&1 &
pid=$!
for _ in $(seq 100); do
  [ -n "$(ls -A "$store/tmp" 2>/dev/null)" ] && break
  sleep 0.01
done
# $! is the ferry_as_user function's subshell; the import is ferry, found by its
# command line.
pkill -KILL -f -- "import tar:$T/img.tar killed/c" || fail "no import to kill"
wait "$pid" 2>/dev/null || true
! pgrep -f -- "killed/c" >/dev/null || fail "the killed import is still running"
expect_status 1 grep -q killed/c "$store/repositories.json"
expect_eq "$(ls "$store"/images/*.sqfs | wc -l)" 1 "no new image file after kill -9"
# The next import cleans the dead one's temporary file.
ferry_as_user import "tar:$T/img.tar" same/c >/dev/null
expect_eq "$(ls -A "$store/tmp")" "" "temporary files cleaned"
