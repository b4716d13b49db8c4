# Docker's media types: a schema 2 manifest and a manifest list (what Docker
# Hub serves) pull like their OCI twins: the platform is chosen from the
# list, the image is the same one (same config, same id) as the OCI upload,
# and a push sends the Docker manifest back unchanged.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/registry.bash"
need_fuse

registry_start plain
registry_multiarch_layout "$T/multi"
registry_upload_oci "$T/multi" test/oci:latest --index >/dev/null
docker_digest=$(registry_upload_oci "$T/multi" test/docker:latest --index --docker)
store="$T/store"
user_dir "$store"
ferry_as_user() { as_user env FERRY_STORE="$store" "$FERRY" "$@"; }
pull() { ferry_as_user pull -q --tls-verify=false "$@"; }

oci_id=$(pull "$REGISTRY/test/oci:latest") || fail "OCI pull failed"
docker_id=$(pull "$REGISTRY/test/docker:latest") || fail "Docker manifest list pull failed"
expect_eq "$docker_id" "$oci_id" "the Docker-typed image is the same image"
mine=$(host_arch)
expect_eq "$(ferry_as_user run "$REGISTRY/test/docker:latest" cat /arch)" "$mine" "this machine's platform from the list"
other=$(pull --platform "linux/$([ "${mine%%/*}" = amd64 ] && echo arm64 || echo amd64)" "$REGISTRY/test/docker:latest") ||
  fail "--platform from a manifest list failed"
[ "$other" != "$docker_id" ] || fail "--platform chose the same image"
by_digest=$(pull "$REGISTRY/test/docker@$docker_digest") || fail "pull of the list by digest failed"
expect_eq "$by_digest" "$docker_id" "the list by digest"

# Into a store of its own (an image already stored keeps the manifest it
# came with), the stored manifest is Docker's schema 2, and it goes back as
# it came.
store="$T/store2"
user_dir "$store"
pull "$REGISTRY/test/docker@$docker_digest" >/dev/null || fail "pull into a fresh store failed"
manifest=$(ferry_as_user inspect "$REGISTRY/test/docker@$docker_digest" | sed -n 's/.*"Path": "\(.*manifest.json\)".*/\1/p')
grep -q 'application/vnd.docker.distribution.manifest.v2+json' "$manifest" || fail "not a Docker manifest: $(cat "$manifest")"
pushed=$(ferry_as_user push -q --tls-verify=false "$REGISTRY/test/docker@$docker_digest" "$REGISTRY/test/again:1") ||
  fail "push of a Docker-typed image failed"
expect_eq "$pushed" "sha256:$(sha256sum <"$manifest" | cut -d' ' -f1)" "push sends the stored manifest"
echo "PASS: $TEST_NAME"
