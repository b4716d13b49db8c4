# What ferry pushes is a standard image other tools pull: skopeo copies it
# (from a plain-http registry) into an OCI layout, and that layout imports
# back to the same image id, for a layered OCI import and a one-layer dir:
# import alike.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/registry.bash"
command -v skopeo >/dev/null || skip "skopeo is not installed"

registry_start plain
registry_busybox_layout "$T/img" v1 >/dev/null
make_busybox_image "$T/root"
chmod -R a+rX "$T/root"
store="$T/store"
user_dir "$store"
ferry_as_user() { as_user env FERRY_STORE="$store" "$FERRY" "$@"; }

oci_id=$(ferry_as_user import "oci:$T/img:v1" local/bb:v1)
dir_id=$(ferry_as_user import "dir:$T/root" local/dir:1)
for pair in "local/bb:v1 test/bb:v1 $oci_id" "local/dir:1 test/dir:1 $dir_id"; do
  set -- $pair
  ferry_as_user push -q --tls-verify=false "$1" "$REGISTRY/$2" >/dev/null || fail "push $1"
  name="skopeo-${2%%:*}"
  out="$T/${name//\//-}"
  skopeo copy -q --src-tls-verify=false "docker://$REGISTRY/$2" "oci:$out:x" >/dev/null 2>"$T/skopeo.err" ||
    fail "skopeo cannot pull what ferry pushed ($2): $(cat "$T/skopeo.err")"
  chmod -R a+rX "$out"
  got=$(ferry_as_user import "oci:$out:x" "back/$2")
  expect_eq "$got" "$3" "skopeo's copy of $2 is the same image"
done
echo "PASS: $TEST_NAME"
