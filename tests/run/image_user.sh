# An image whose config names another User runs as the caller anyway, with
# one warning line; an image naming the caller (or no one) gets none.
. "$(dirname "$0")/../lib.sh"

make_busybox_image "$T/img"
cfg() { printf '{"config":{"User":"%s"}}' "$1" >"$T/img.config.json"; }

cfg "root"
err=$(as_user "$FERRY" run "$T/img" id -u 2>&1 >/dev/null)
expect_eq "$err" "ferry: warning: $T/img: the image's User 'root' is ignored: the container runs as you ($TEST_USER, uid $TEST_UID)" "warning"
expect_eq "$(as_user "$FERRY" run "$T/img" id -u 2>/dev/null)" "$TEST_UID" "still the caller"

cfg "1234:5678"
expect_eq "$(as_user "$FERRY" run "$T/img" true 2>&1 | wc -l)" "1" "uid:gid form warns once"

for quiet in "" "$TEST_UID" "$TEST_USER" "$TEST_USER:$TEST_GID"; do
  cfg "$quiet"
  expect_eq "$(as_user "$FERRY" run "$T/img" true 2>&1)" "" "no warning for User '$quiet'"
done
