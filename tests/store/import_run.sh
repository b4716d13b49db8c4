# A plain root-file-system tarball becomes one SquashFS file in the user's
# store, and `ferry run NAME` runs it; images, inspect, tag and rmi manage it.
. "$(dirname "$0")/../lib.sh"
need_fuse

make_busybox_image "$T/rootfs"
tar -C "$T/rootfs" -czf "$T/rootfs.tar.gz" .
chmod a+r "$T/rootfs.tar.gz"
store="$T/store"
user_dir "$store"
ferry_as_user() { as_user env FERRY_STORE="$store" "$FERRY" "$@"; }

out=$(ferry_as_user import "tar:$T/rootfs.tar.gz" example/busybox:1.0)
expect_contains "$out" "sha256:" "import prints the image id"
expect_eq "$(ferry_as_user run example/busybox:1.0 cat /etc/os-release | head -1)" 'NAME="ferry test image"' "run by name"
expect_eq "$(ferry_as_user run example/busybox:1.0 id -u)" "$TEST_UID" "runs as the user"

list=$(ferry_as_user images)
expect_contains "$list" "example/busybox" "images lists the repository"
expect_contains "$list" "1.0" "images lists the tag"
json=$(ferry_as_user images --format json)
expect_contains "$json" '"Repository": "example/busybox"' "images json"

ferry_as_user tag example/busybox:1.0 registry.example.org/team/bb:v1
insp=$(ferry_as_user inspect registry.example.org/team/bb:v1)
expect_contains "$insp" '"docker.io/example/busybox:1.0"' "inspect lists every name"
expect_contains "$insp" '"diff_ids"' "inspect shows the layers"
id=$(ferry_as_user images --format json | sed -n 's/.*"Id": "\([0-9a-f]*\)".*/\1/p' | head -1)
expect_eq "$(ferry_as_user run "$id" echo by-id)" "by-id" "run by image id prefix"

# The file goes only with the last name.
sqfs=$(ls "$store"/images/*.sqfs)
ferry_as_user rmi example/busybox:1.0 >/dev/null
[ -f "$sqfs" ] || fail "file removed while a name still points at it"
out=$(ferry_as_user rmi registry.example.org/team/bb:v1)
expect_contains "$out" "Deleted: sha256:" "rmi of the last name deletes"
[ ! -e "$sqfs" ] || fail "file still there after the last rmi"
err=$(ferry_as_user run --pull=never example/busybox:1.0 true 2>&1) && fail "run of a removed image succeeded"
expect_eq "$err" "ferry: run example/busybox:1.0: no such image in the store (ferry images lists them) and no such file" "run of a missing name"
