# ferry's exit status is the command's; ferry's own failures are 125/126/127
# with one line naming the thing that failed.
. "$(dirname "$0")/../lib.sh"

while read -r form img; do
  expect_status 0 as_user "$FERRY" run "$img" true
  expect_status 1 as_user "$FERRY" run "$img" false
  expect_status 7 as_user "$FERRY" run "$img" sh -c 'exit 7'
  expect_status 143 as_user "$FERRY" run "$img" sh -c 'kill -TERM $$'

  err=$(as_user "$FERRY" run "$img" /no/such/command 2>&1) && fail "missing command succeeded"
  expect_eq "$err" "ferry: run $img: /no/such/command: command not found" "$form 127 message"
  expect_status "$EXIT_NOT_FOUND" as_user "$FERRY" run "$img" no-such-command

  err=$(as_user "$FERRY" run "$img" /etc/passwd 2>&1) && fail "non-executable succeeded"
  expect_eq "$err" "ferry: run $img: /etc/passwd: permission denied" "$form 126 message"
  expect_status "$EXIT_CANNOT_EXECUTE" as_user "$FERRY" run "$img" /etc/passwd

  err=$(as_user "$FERRY" run "$T/no-image" true 2>&1) && fail "missing image succeeded"
  expect_eq "$err" "ferry: run $T/no-image: no such image (not a directory or SquashFS file)" "missing image"
  expect_status "$EXIT_FAILURE" as_user "$FERRY" run "$T/no-image" true
  expect_status "$EXIT_FAILURE" as_user "$FERRY" run --no-such-option "$img" true
  expect_eq "$(as_user "$FERRY" run "$img" true 2>&1 | wc -l)" "0" "$form quiet success"
done < <(image_forms)
