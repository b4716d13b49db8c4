# The image root is read-only, nosuid, nodev; --writable-tmpfs lets the
# container write (where the image's permissions let the user: / is the
# user's in the overlay, root-owned /usr is not), the writes vanish at exit,
# and the image file stays byte-identical.
. "$(dirname "$0")/../lib.sh"

while read -r form img; do
  expect_status 1 as_user "$FERRY" run "$img" touch /newfile
  out=$(as_user "$FERRY" run "$img" /probe mount /)
  expect_contains "$out" "ro=1" "$form root read-only"
  expect_contains "$out" "nosuid=1" "$form root nosuid"
  expect_contains "$out" "nodev=1" "$form root nodev"

  before=$(if [ -f "$img" ]; then sha256sum <"$img"; else find "$img" -printf '%p %s %T@\n' | sort | sha256sum; fi)
  out=$(as_user "$FERRY" run --writable-tmpfs "$img" sh -c 'echo data >/newfile && mkdir -p /newdir/sub && echo x >/newdir/sub/f && cat /newfile /newdir/sub/f')
  expect_eq "$out" "$(printf 'data\nx')" "$form writable-tmpfs writes"
  expect_status 1 as_user "$FERRY" run --writable-tmpfs "$img" mkdir /usr/new
  expect_status 1 as_user "$FERRY" run --writable-tmpfs "$img" test -e /newfile
  after=$(if [ -f "$img" ]; then sha256sum <"$img"; else find "$img" -printf '%p %s %T@\n' | sort | sha256sum; fi)
  expect_eq "$after" "$before" "$form image unchanged"
  [ ! -e "$img/newfile" ] || fail "$form: the write reached the image directory"
done < <(image_forms)
