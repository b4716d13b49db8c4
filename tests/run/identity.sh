# Inside, the user is still the user: same uid/gid, no new privileges, no
# capability in any set; for both image forms.
. "$(dirname "$0")/../lib.sh"

while read -r form img; do
  out=$(as_user "$FERRY" run "$img" /probe)
  expect_contains "$out" "uid=$TEST_UID" "$form uid"
  expect_contains "$out" "euid=$TEST_UID" "$form euid"
  expect_contains "$out" "gid=$TEST_GID" "$form gid"
  expect_contains "$out" "NoNewPrivs=1" "$form NoNewPrivs"
  for set in CapInh CapPrm CapEff CapBnd CapAmb; do
    expect_contains "$out" "$set=0000000000000000" "$form $set"
  done
  # /etc/passwd and /etc/group show the user's own entries.
  expect_eq "$(as_user "$FERRY" run "$img" id -un)" "$TEST_USER" "$form user name"
  expect_eq "$(as_user "$FERRY" run "$img" id -gn)" "$(id -gn "$TEST_USER")" "$form group name"
  expect_contains "$(as_user "$FERRY" run "$img" cat /etc/passwd)" "root:x:0:0" "$form image passwd kept"
done < <(image_forms)
