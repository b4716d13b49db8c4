# Docker's rule for the command: `run` starts Entrypoint + (COMMAND or Cmd),
# `exec` runs COMMAND alone; with nothing to run, one line and exit 125.
. "$(dirname "$0")/../lib.sh"

while read -r form img; do
  cfg=$img.config.json
  echo '{"config":{"Entrypoint":["/bin/echo","ep"],"Cmd":["default","cmd"]}}' >"$cfg"
  expect_eq "$(as_user "$FERRY" run "$img")" "ep default cmd" "$form entrypoint + cmd"
  expect_eq "$(as_user "$FERRY" run "$img" x "y z")" "ep x y z" "$form entrypoint + command"
  expect_eq "$(as_user "$FERRY" run "$img" --not-ferrys -v)" "ep --not-ferrys -v" "$form options after IMAGE are the command's"
  expect_eq "$(as_user "$FERRY" exec "$img" echo hi)" hi "$form exec ignores the entrypoint"
  expect_eq "$(printf 'echo in-shell\n' | as_user "$FERRY" shell "$img")" in-shell "$form shell ignores the entrypoint"
  err=$(as_user "$FERRY" exec "$img" 2>&1) && fail "$form: exec without a command succeeded"
  expect_eq "$err" "ferry: exec $img: no command given (usage: ferry exec [OPTIONS] IMAGE COMMAND [ARG...])" \
    "$form exec without a command"
  expect_status "$EXIT_FAILURE" as_user "$FERRY" exec "$img"

  # Cmd alone: the command replaces it.
  echo '{"config":{"Cmd":["echo","cmd-only"]}}' >"$cfg"
  expect_eq "$(as_user "$FERRY" run "$img")" cmd-only "$form cmd only"
  expect_eq "$(as_user "$FERRY" run "$img" echo replaced)" replaced "$form command replaces cmd"

  # Entrypoint alone.
  echo '{"config":{"Entrypoint":["/bin/echo","only-ep"],"Cmd":null}}' >"$cfg"
  expect_eq "$(as_user "$FERRY" run "$img")" only-ep "$form entrypoint only"

  # Neither, with a config and without one.
  for c in '{"config":{"Env":["A=b"]}}' ''; do
    if [ -n "$c" ]; then echo "$c" >"$cfg"; else rm -f "$cfg"; fi
    err=$(as_user "$FERRY" run "$img" 2>&1) && fail "$form: run with nothing to run succeeded"
    expect_eq "$err" "ferry: run $img: no command given and the image has no entrypoint or cmd" \
      "$form nothing to run message${c:+ (with config)}"
    expect_status "$EXIT_FAILURE" as_user "$FERRY" run "$img"
  done
  rm -f "$cfg"
done < <(image_forms)
