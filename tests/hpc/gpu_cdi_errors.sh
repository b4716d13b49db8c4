# What goes wrong with --device and CDI specs is one line naming the device,
# the spec file or the hook, and exit status 125: an unknown device or
# kind, a malformed spec, an unsupported cdiVersion, a missing host node, a
# failing or hanging hook.
. "$(dirname "$0")/gpu.bash"
. "$(dirname "$0")/../lib.sh"

gpu_nodes "$T/devs" ok0
gpu_dev fake0
make_busybox_image "$T/img"
img=$T/img
spec() {  # spec DIR FILE DEVICE-EDITS-JSON: a 0.7.0 spec of kind ferry.test/e with device d0
  mkdir -p "$1"
  printf '{"cdiVersion": "0.7.0", "kind": "ferry.test/e", "devices": [{"name": "d0", "containerEdits": %s}]}\n' \
    "$3" >"$1/$2"
  chmod -R a+rX "$1"
}
# expect_error SPEC-DIR DEVICE MESSAGE: `ferry run` fails with exactly
# "ferry: run IMG: MESSAGE" and 125.
expect_error() {
  local err status=0
  err=$(as_user "$FERRY" run --cdi-spec-dir "$1" --device "$2" "$img" true 2>&1) || status=$?
  expect_eq "$status" "$EXIT_FAILURE" "exit status for $2 in $1"
  expect_eq "$err" "ferry: run $img: $3" "message for $2 in $1"
}

spec "$T/good" e.json "{\"deviceNodes\": [{\"path\": \"/dev/fake0\", \"hostPath\": \"$T/devs/ok0\"}]}"
expect_status 0 as_user "$FERRY" run --cdi-spec-dir "$T/good" --device ferry.test/e=d0 "$img" test -c /dev/fake0

expect_error "$T/good" ferry.test/e=nope "CDI device ferry.test/e=nope: no such device (the specs for ferry.test/e define d0)"
expect_error "$T/good" other.test/x=0 "CDI device other.test/x=0: no CDI spec for other.test/x in $T/good"
expect_error "$T/good" not-a-name "--device not-a-name: not a CDI device name (vendor.com/class=name)"

mkdir -p "$T/bad-json" && echo '{"cdiVersion": "0.7.0",' >"$T/bad-json/broken.json" && chmod -R a+rX "$T/bad-json"
expect_error "$T/bad-json" ferry.test/e=d0 "CDI spec $T/bad-json/broken.json: not valid JSON"
mkdir -p "$T/bad-yaml" && printf 'cdiVersion: 0.5.0\nkind: [\n' >"$T/bad-yaml/broken.yaml" && chmod -R a+rX "$T/bad-yaml"
expect_error "$T/bad-yaml" ferry.test/e=d0 \
  "CDI spec $T/bad-yaml/broken.yaml: not valid YAML: line 3: end of sequence flow not found"
spec "$T/unknown-field" e.json '{"devices": []}'
expect_error "$T/unknown-field" ferry.test/e=d0 \
  "CDI spec $T/unknown-field/e.json: devices[0].containerEdits: unknown field 'devices'"
mkdir -p "$T/version" && sed 's/0.7.0/1.0.0/' "$T/good/e.json" >"$T/version/e.json" && chmod -R a+rX "$T/version"
expect_error "$T/version" ferry.test/e=d0 \
  "CDI spec $T/version/e.json: unsupported cdiVersion '1.0.0' (ferry reads 0.3.0 to 0.8.x)"

spec "$T/no-node" e.json "{\"deviceNodes\": [{\"path\": \"/dev/fake0\", \"hostPath\": \"$T/devs/missing\"}]}"
expect_error "$T/no-node" ferry.test/e=d0 "CDI device ferry.test/e=d0: device node $T/devs/missing does not exist"
spec "$T/no-place" e.json "{\"deviceNodes\": [{\"path\": \"/dev/elsewhere\", \"hostPath\": \"$T/devs/ok0\"}]}"
expect_error "$T/no-place" ferry.test/e=d0 \
  "CDI device ferry.test/e=d0: /dev/elsewhere is missing from this host's /dev, which the container shares"

# Two definitions of one device in one directory.
spec "$T/twice" a.json '{}'
spec "$T/twice" b.json '{}'
expect_error "$T/twice" ferry.test/e=d0 "CDI device ferry.test/e=d0: defined in both $T/twice/a.json and $T/twice/b.json"

# Hooks: a non-zero exit (its last line of output is in the message), a
# timeout, a hook that does not exist, one of a kind ferry does not run.
printf '#!/bin/sh\necho starting\necho boom >&2\nexit 3\n' >"$T/fail.sh"
printf '#!/bin/sh\nexec sleep 60\n' >"$T/hang.sh"
chmod 0755 "$T/fail.sh" "$T/hang.sh"
spec "$T/hook-fail" e.json "{\"hooks\": [{\"hookName\": \"createContainer\", \"path\": \"$T/fail.sh\"}]}"
expect_error "$T/hook-fail" ferry.test/e=d0 "createContainer hook $T/fail.sh: exited with status 3: boom"
spec "$T/hook-hang" e.json "{\"hooks\": [{\"hookName\": \"createContainer\", \"path\": \"$T/hang.sh\", \"timeout\": 1}]}"
expect_error "$T/hook-hang" ferry.test/e=d0 "createContainer hook $T/hang.sh: timed out after 1 s"
spec "$T/hook-missing" e.json "{\"hooks\": [{\"hookName\": \"createContainer\", \"path\": \"$T/nope.sh\"}]}"
expect_error "$T/hook-missing" ferry.test/e=d0 "createContainer hook $T/nope.sh: does not exist"
spec "$T/hook-kind" e.json "{\"hooks\": [{\"hookName\": \"poststop\", \"path\": \"$T/fail.sh\"}]}"
expect_error "$T/hook-kind" ferry.test/e=d0 \
  "CDI device ferry.test/e=d0: hook 'poststop' ($T/fail.sh) is not supported: ferry runs createContainer hooks"
