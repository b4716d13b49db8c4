# Per-node cache options: --scratch DST:size=SIZE works; Shifter's bs,
# method and fstype are accepted with a warning; malformed specs and an
# unsafe cache directory are one line and exit 125, before any container.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/cache.bash"

cache_setup
make_busybox_image "$T/img"
img=$T/img

out=$(ferry_shared run --scratch /s:size=1M --scratch /t:size=2M "$img" sh -c \
  'echo hi >/s/f && cat /s/f && df -k /s /t | tail -n 2 | awk "{print \$2}"')
expect_eq "$out" $'hi\n1024\n2048' "--scratch twice"

err=$(ferry_shared run -v "/x:/c:perNodeCache=size=1M,bs=1M,method=loop,fstype=xfs" "$img" touch /c/f 2>&1) ||
  fail "Shifter's extra keys refused: $err"
expect_contains "$err" "ferry: warning: volume '/x:/c:perNodeCache=size=1M,bs=1M,method=loop,fstype=xfs': perNodeCache option 'bs' is ignored" "bs warning"
expect_contains "$err" "option 'fstype' is ignored" "fstype warning"

# bad SPEC MESSAGE: ferry run -v SPEC fails with one line MESSAGE, exit 125.
bad() {
  local err
  err=$(ferry_shared run "$1" "$2" "$img" true 2>&1) && fail "'$1 $2' accepted"
  expect_eq "$err" "ferry: run $img: $3" "message for '$1 $2'"
  expect_status "$EXIT_FAILURE" ferry_shared run "$1" "$2" "$img" true
}
bad -v /x:/c:perNodeCache= "volume '/x:/c:perNodeCache=': perNodeCache needs size=SIZE"
bad -v /x:/c:perNodeCache=size=lots \
  "volume '/x:/c:perNodeCache=size=lots': size 'lots': expected a number with an optional K, M, G or T suffix"
bad -v /x:/c:perNodeCache=size=1G,colour=red \
  "volume '/x:/c:perNodeCache=size=1G,colour=red': unknown perNodeCache option 'colour' (expected size, bs, method or fstype)"
bad -v /x:c:perNodeCache=size=1G "volume '/x:c:perNodeCache=size=1G': destination must be an absolute path without '..'"
bad -v /x:/c:ro:perNodeCache=size=1G "volume '/x:/c:ro:perNodeCache=size=1G': expected SRC:DST:perNodeCache=size=SIZE"
bad --scratch /s "scratch '/s': expected DST:size=SIZE"
bad --scratch /s:size=0 "scratch '/s:size=0': size '0': must be more than 0"
bad --scratch /a/../b:size=1M "scratch '/a/../b:size=1M': destination must be an absolute path without '..'"

# The per-user directory under [cache] dir must be the user's own, private,
# and not a symlink (the default dir is a shared /tmp).
UDIR=$CDIR/ferry-cache-$TEST_UID
user_dir "$T/elsewhere"
rm -rf "$UDIR"  # made by the runs above
ln -s "$T/elsewhere" "$UDIR"
bad --scratch /s:size=1M "per-node cache /s: per-node cache directory $UDIR is not a directory; refusing to use it"
[ -z "$(ls -A "$T/elsewhere")" ] || fail "ferry wrote through a symlinked cache directory"
rm "$UDIR"
mkdir -m 0755 "$UDIR"
[ "$(id -u)" = 0 ] && chown "$TEST_UID:$TEST_GID" "$UDIR"
bad --scratch /s:size=1M \
  "per-node cache /s: per-node cache directory $UDIR is open to other users (want mode 0700); refusing to use it"
rmdir "$UDIR"
