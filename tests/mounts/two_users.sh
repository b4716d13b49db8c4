# Two users running the same image file never share a mount holder: each
# gets its own, in its own rendezvous directory, with its own FUSE
# connection; neither can reach the other's socket.
. "$(dirname "$0")/../lib.sh"

[ "$(id -u)" = 0 ] || skip "needs root to run as two users"
need_fuse
OTHER=ferry-test2
(flock 9; id "$OTHER" >/dev/null 2>&1 || useradd -m -s /bin/sh "$OTHER") 9>/tmp/ferry-test-useradd.lock
O_UID=$(id -u "$OTHER")
O_GID=$(id -g "$OTHER")
O_HOME=$(getent passwd "$OTHER" | cut -d: -f6)
share_setup 1
O_XDG=$T/xdg2
mkdir -m 0700 "$O_XDG"
chown "$O_UID:$O_GID" "$O_XDG"
# as_other CMD...: CMD as the other user, with its own rendezvous directory.
as_other() {
  (cd "$O_HOME" && exec setpriv --reuid="$O_UID" --regid="$O_GID" --init-groups --reset-env \
    env HOME="$O_HOME" XDG_RUNTIME_DIR="$O_XDG" XDG_CONFIG_HOME="$CFG" "$@")
}
ferry_other() { as_other "$FERRY" "$@"; }

make_busybox_image "$T/img"
make_squashfs "$T/img" "$T/img.sqfs"
mkdir -m 0777 "$T/go" "$T/a" "$T/b"

ferry_shared run -v "$T/go:/go" -v "$T/a:/out" "$T/img.sqfs" sh -c 'echo $$ >/out/pid; i=0; while [ ! -e /go/go ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i + 1)); done' &
p1=$!
ferry_other run -v "$T/go:/go" -v "$T/b:/out" "$T/img.sqfs" sh -c 'echo $$ >/out/pid; i=0; while [ ! -e /go/go ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i + 1)); done' &
p2=$!
for _ in $(seq 200); do [ -s "$T/a/pid" ] && [ -s "$T/b/pid" ] && break; sleep 0.05; done
[ -s "$T/a/pid" ] && [ -s "$T/b/pid" ] || { touch "$T/go/go"; fail "the containers did not start"; }

key=$(holder_keys)
holders=$(holders_in_proc "$key")
expect_eq "$(echo "$holders" | wc -w)" 2 "holders of the one image file"
owners=$(for h in $holders; do stat -c %u "/proc/$h"; done | sort -n | tr '\n' ' ')
expect_eq "$owners" "$(printf '%s\n' "$TEST_UID" "$O_UID" | sort -n | tr '\n' ' ')" "the holders' owners"
expect_eq "$(fuse_devs "$(cat "$T/a/pid")" "$(cat "$T/b/pid")" | wc -l)" 2 "FUSE connections of the two containers"
# The other user cannot even see the first user's socket, let alone join.
as_user test -S "$XDG/ferry/mounts/$key.sock" || fail "the owner cannot see its rendezvous socket"
if as_other test -e "$XDG/ferry/mounts/$key.sock" 2>/dev/null; then
  fail "another user can see the rendezvous socket"
fi
touch "$T/go/go"
wait "$p1" || fail "the first user's container failed"
wait "$p2" || fail "the other user's container failed"
