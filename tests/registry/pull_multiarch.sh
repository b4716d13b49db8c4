# ferry pull of a multi-platform image (an OCI index of linux/amd64 and
# linux/arm64/v8): this machine's by default, the other with --platform,
# and a platform the index lacks refused in one line naming those it has.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/registry.bash"
. "$(dirname "$0")/pull_lib.bash"
need_fuse

case $(host_arch) in
  amd64) mine=amd64 other=arm64 other_arch=arm64/v8 ;;
  arm64) mine=arm64/v8 other=amd64 other_arch=amd64 ;;
  *) skip "the index has amd64 and arm64 images; this machine is $(host_arch)" ;;
esac
registry_start plain
registry_multiarch_layout "$T/multi"
index=$(registry_upload_oci "$T/multi" test/multi:latest --index)
ref=$REGISTRY/test/multi
user_config "[registries.\"$REGISTRY\"]
insecure = true"
# arch_of ID: the architecture (and variant) in the stored config.
arch_of() {
  /usr/bin/python3 -c 'import json, sys; c = json.load(open(sys.argv[1])); print(c["architecture"] + ("/" + c["variant"] if c.get("variant") else ""))' \
    "$STORE/images/${1#sha256:}.sqfs.config.json"
}

# This machine's platform by default.
id=$(ferry_as_user pull -q "$ref")
expect_eq "$(ferry_as_user run "$ref" cat /arch)" "$mine" "default: this machine's image"
expect_eq "$(arch_of "$id")" "$mine" "default: its config"

# --platform: the other one, without a variant given (arm64 means arm64/v8).
oid=$(ferry_as_user pull -q --platform "linux/${other%%/*}" "$ref")
[ "$oid" != "$id" ] || fail "--platform linux/$other gave this machine's image"
expect_eq "$(ferry_as_user run "$ref" cat /arch)" "$other_arch" "--platform linux/$other: /arch"
expect_contains "$(ferry_as_user inspect "$ref")" "\"Architecture\": \"${other%%/*}\"" "--platform linux/$other: ferry inspect"
expect_eq "$(arch_of "$oid")" "$other_arch" "--platform linux/$other: its config"
# With the variant spelt out, and this machine's platform named.
expect_eq "$(ferry_as_user pull -q --platform linux/arm64/v8 "$ref")" \
  "$([ "$mine" = arm64/v8 ] && echo "$id" || echo "$oid")" "--platform linux/arm64/v8"
expect_eq "$(ferry_as_user pull -q --platform "linux/${mine%%/*}" "$ref")" "$id" "--platform linux/${mine%%/*}"
expect_eq "$(ferry_as_user run "$ref" cat /arch)" "$mine" "the name follows the last pull"

# A platform the index lacks: one line naming the index and its platforms.
rm -rf "$STORE" && user_dir "$STORE"
expect_fail err pull -q --platform linux/s390x "$ref"
expect_contains "$err" "pull $ref: " "s390x: names the reference"
expect_contains "$err" "$index" "s390x: names the index"
expect_contains "$err" "no image for linux/s390x (it has linux/amd64, linux/arm64/v8)" "s390x"
[ ! -e "$STORE/images" ] || [ -z "$(ls "$STORE/images")" ] || fail "a refused pull stored an image"
# Another variant of an architecture the index has is not a match.
expect_fail err pull -q --platform linux/arm64/v7 "$ref"
expect_contains "$err" "no image for linux/arm64/v7 (it has linux/amd64, linux/arm64/v8)" "arm64/v7"
# A malformed platform.
expect_fail err pull -q --platform linux "$ref"
expect_contains "$err" "platform 'linux': expected OS/ARCH[/VARIANT]" "--platform linux"
echo "PASS: $TEST_NAME"
