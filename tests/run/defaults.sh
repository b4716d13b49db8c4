# The default binds: the user's $HOME, the host's /tmp, /dev, /proc, /sys,
# and the host's /etc/resolv.conf, /etc/hosts, /etc/localtime (read-only),
# with no -v at all.
. "$(dirname "$0")/../lib.sh"

id=$(basename "$T")
home_file=$TEST_HOME/ferry-defaults-$id
at_exit 'rm -rf "$home_file" "$home_file".*'
echo "home-$id" >"$home_file"
[ "$(id -u)" = 0 ] && chown "$TEST_UID:$TEST_GID" "$home_file"
user_dir "$T/u"
echo "tmp-$id" >"$T/tmp-file"
chmod a+r "$T/tmp-file"

while read -r form img; do
  # $HOME: the host's, read and write.
  out=$(as_user "$FERRY" run "$img" sh -c "echo \"\$HOME\" && cat \"\$HOME/ferry-defaults-$id\" && echo in > \"\$HOME/ferry-defaults-$id.$form\"")
  expect_eq "$out" "$(printf '%s\nhome-%s' "$TEST_HOME" "$id")" "$form home"
  expect_eq "$(cat "$home_file.$form")" in "$form write to home reached the host"

  # /tmp: the host's, both ways.
  expect_eq "$(as_user "$FERRY" run "$img" cat "$T/tmp-file")" "tmp-$id" "$form /tmp read"
  as_user "$FERRY" run "$img" sh -c "echo out >$T/u/from-$form"
  expect_eq "$(cat "$T/u/from-$form")" out "$form /tmp write reached the host"

  # /dev, /proc, /sys.
  expect_eq "$(as_user "$FERRY" run "$img" sh -c 'echo x >/dev/null && head -c 4 /dev/zero | od -An -tx1')" \
    " 00 00 00 00" "$form /dev/null and /dev/zero"
  out=$(as_user "$FERRY" run "$img" sh -c 'test -d /proc/self && readlink /proc/self && echo $$')
  self=$(echo "$out" | sed -n 1p) shpid=$(echo "$out" | sed -n 2p)
  [ -n "$self" ] && [ "$self" -eq "$self" ] 2>/dev/null || fail "$form /proc/self: '$out'"
  expect_status 0 as_user "$FERRY" run "$img" test -d /sys/kernel
  expect_status 0 as_user "$FERRY" run "$img" test -r /proc/self/status

  # Host files, same bytes, read-only mounts.
  for f in /etc/resolv.conf /etc/hosts /etc/localtime; do
    [ -e "$f" ] || continue
    want=$(sha256sum <"$f" | cut -d' ' -f1)
    got=$(as_user "$FERRY" run "$img" sha256sum "$f" | cut -d' ' -f1)
    expect_eq "$got" "$want" "$form $f content"
    expect_contains "$(as_user "$FERRY" run "$img" /probe mount "$f")" "ro=1" "$form $f read-only"
  done
  # The image's own /etc stays: the bind added files beside it.
  expect_contains "$(as_user "$FERRY" run "$img" cat /etc/os-release)" 'ID=ferrytest' "$form image /etc kept"
done < <(image_forms)
