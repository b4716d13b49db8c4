# An index with a single manifest, for another platform than this machine's,
# is not pulled as if it were this machine's: the pull fails in one line
# naming the platform the index has (as Docker's "no matching manifest").
# Only --platform naming that platform pulls it.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/registry.bash"
. "$(dirname "$0")/pull_lib.bash"

case $(host_arch) in
  amd64) other=arm64/v8 ;;
  *) other=amd64 ;;
esac
registry_start plain
registry_layout "$T/one" only "$other" >/dev/null
registry_upload_oci "$T/one" test/one:latest --index >/dev/null
ref=$REGISTRY/test/one
user_config "[registries.\"$REGISTRY\"]
insecure = true"

expect_fail err pull -q "$ref"
expect_contains "$err" "no image for linux/$(host_arch)" "this machine's platform is not in the index"
expect_contains "$err" "(it has linux/$other)" "names the platform there is"
[ ! -e "$STORE/images" ] || [ -z "$(ls "$STORE/images")" ] || fail "a refused pull stored an image"
expect_fail err pull -q --platform linux/s390x "$ref"
expect_contains "$err" "no image for linux/s390x (it has linux/$other)" "--platform linux/s390x"
ferry_as_user pull -q --platform "linux/$other" "$ref" >/dev/null
echo "PASS: $TEST_NAME"
