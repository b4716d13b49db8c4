# `dir:PATH` streams a directory through the same conversion as a tarball:
# the same tree gives the same SquashFS bytes as `tar --sort=name` of it,
# and the same image id run after run. Symlinks are kept, never followed.
. "$(dirname "$0")/../lib.sh"
command -v unsquashfs >/dev/null || skip "squashfs-tools is not installed"

R=$T/root
make_busybox_image "$R"
long=$(printf 'd%.0s' $(seq 150))
mkdir -p "$R/deep/$long"
echo deep >"$R/deep/$long/file"
ln -s /etc/passwd "$R/abs.link"
ln -s ../nowhere "$R/deep/dangling"
ln "$R/etc/passwd" "$R/etc/passwd.hard"
mkfifo "$R/fifo"
chmod -R a+rX "$R"
tar --sort=name -C "$R" -cf "$T/root.tar" .
chmod a+r "$T/root.tar"
store="$T/store"
user_dir "$store"
ferry_as_user() { as_user env FERRY_STORE="$store" "$FERRY" "$@"; }

d1=$(ferry_as_user import "dir:$R" test/dir:1)
d2=$(ferry_as_user import "dir:$R" test/dir:2)
expect_eq "$d2" "$d1" "dir: is reproducible"
t1=$(ferry_as_user import "tar:$T/root.tar" test/tar)
img() { echo "$store/images/${1#sha256:}.sqfs"; }
expect_eq "$(unsquashfs -lln "$(img "$d1")")" "$(unsquashfs -lln "$(img "$t1")")" "same file list as tar:"
cmp "$(img "$d1")" "$(img "$t1")" || fail "dir: and tar: of one tree differ"
list=$(unsquashfs -lln "$(img "$d1")")
expect_contains "$list" "squashfs-root/abs.link -> /etc/passwd" "absolute symlink kept"
expect_contains "$list" "squashfs-root/deep/dangling -> ../nowhere" "dangling symlink kept"
expect_eq "$(unsquashfs -cat "$(img "$d1")" "deep/$long/file")" deep "long path"

# An unreadable file is an error naming it; the store is unchanged.
mkdir -p "$T/secret"
echo x >"$T/secret/key"
chmod 0600 "$T/secret/key"
chmod 0755 "$T/secret"
[ "$(id -u)" = 0 ] || skip "needs a file the test user cannot read"
err=$(ferry_as_user import "dir:$T/secret" test/secret 2>&1) && fail "import of an unreadable file succeeded"
expect_contains "$err" "open $T/secret/key: Permission denied" "unreadable file message"
expect_status 1 grep -q test/secret "$store/repositories.json"
expect_eq "$(ls -A "$store/tmp")" "" "no temporary file left"
