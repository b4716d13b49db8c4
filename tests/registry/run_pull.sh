# ferry run NAME with --pull: missing (the default) pulls a name the store
# lacks and then runs it, and asks the registry nothing once it is stored;
# never fails for a missing name with the store's "no such image"; always
# asks the registry again and takes the tag's new image.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/registry.bash"
. "$(dirname "$0")/pull_lib.bash"
need_fuse

registry_with_busybox "$T/img" plain
ref=$REGISTRY/test/busybox:v1

# --pull=never: the store's error, one line, the registry not asked.
rc=0
err=$(ferry_as_user run --pull=never --tls-verify=false "$ref" 2>&1) || rc=$?
expect_eq "$rc" "$EXIT_FAILURE" "--pull=never: exit status"
expect_eq "$err" "ferry: run $ref: no such image in the store (ferry images lists them) and no such file" "--pull=never"
expect_eq "$(manifest_gets "$REGISTRY_LOG")" 0 "--pull=never: manifest GETs"

# Default (missing): pulled, then run; the command's output only on stdout.
expect_eq "$(ferry_as_user run --tls-verify=false "$ref" 2>/dev/null)" v1 "run pulls a missing name"
expect_eq "$(manifest_gets "$REGISTRY_LOG")" 1 "first run: manifest GETs"
expect_contains "$(ferry_as_user images)" "$REGISTRY/test/busybox" "run's pull stored the image"
# Stored now: run asks the registry nothing, even when it could not answer.
expect_eq "$(ferry_as_user run "$ref" cat /etc/hello)" v1 "second run"
expect_eq "$(manifest_gets "$REGISTRY_LOG")" 1 "second run: manifest GETs"
# A failing pull is run's failure: one line, the command not run.
rc=0
err=$(ferry_as_user run --tls-verify=false "$REGISTRY/test/busybox:v9" echo ran 2>&1) || rc=$?
expect_eq "$rc" "$EXIT_FAILURE" "run of a tag the registry lacks: exit status"
expect_one_line "$err" "run of a tag the registry lacks"
expect_contains "$err" "ferry: run $REGISTRY/test/busybox:v9: " "run of a tag the registry lacks: names it"
expect_contains "$err" "not found" "run of a tag the registry lacks"

# The tag moves to a new image in the registry (a layout whose /etc/hello
# says v2, uploaded as v1).
registry_layout "$T/new" v2 "$(host_arch)" >/dev/null
registry_upload_oci "$T/new" test/busybox:v1 --ref v2 >/dev/null
# missing: the stored image still.
expect_eq "$(ferry_as_user run --tls-verify=false "$ref" 2>/dev/null)" v1 "--pull=missing keeps the stored image"
# always: the registry asked again, the new image run.
expect_eq "$(ferry_as_user run --pull=always --tls-verify=false "$ref" 2>/dev/null)" v2 "--pull=always takes the new image"
expect_eq "$(manifest_gets "$REGISTRY_LOG")" 3 "--pull=always: manifest GETs"
expect_eq "$(ferry_as_user run --pull=never "$ref")" v2 "the name now points at the new image"
# always, nothing new: asked again, nothing downloaded.
gets=$(blob_gets "$REGISTRY_LOG")
expect_eq "$(ferry_as_user run --pull=always --tls-verify=false "$ref" 2>/dev/null)" v2 "--pull=always, unchanged"
expect_eq "$(manifest_gets "$REGISTRY_LOG")" 4 "--pull=always, unchanged: manifest GETs"
expect_eq "$(blob_gets "$REGISTRY_LOG")" "$gets" "--pull=always, unchanged: blob GETs"
echo "PASS: $TEST_NAME"
