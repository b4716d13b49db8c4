# Bad input to import: one line, exit 125, and the store exactly as it was.
. "$(dirname "$0")/../lib.sh"

make_busybox_image "$T/rootfs"
tar -C "$T/rootfs" -czf "$T/good.tar.gz" .
head -c 20000 "$T/good.tar.gz" >"$T/truncated.tar.gz"
printf 'this is not a tarball at all\n' >"$T/garbage.tar"
tar -C "$T/rootfs" -cf "$T/plain.tar" .
# A hostile tarball: an entry climbing out with "..".
mkdir -p "$T/hostile"
echo pwned >"$T/hostile/passwd"
tar -C "$T/hostile" -cf "$T/hostile.tar" --transform 's,^\./passwd,../../etc/passwd,' ./passwd
# A sparse bomb: a 3 TiB hole (a few KiB of tar), past the 2 TiB of holes
# an image may hold. Without the limit it would be fed as zeros for minutes;
# a header can declare exabytes.
mkdir -p "$T/sparse"
truncate -s 3T "$T/sparse/lastlog"
tar -C "$T/sparse" --sparse -cf "$T/sparse.tar" ./lastlog
chmod a+r "$T"/*.tar* 
store="$T/store"
user_dir "$store"
ferry_as_user() { as_user env FERRY_STORE="$store" "$FERRY" "$@"; }

ferry_as_user import "tar:$T/plain.tar" ok/plain >/dev/null
snapshot() { (cd "$store" && find . -path ./lock -prune -o -printf '%p %s\n' | sort; cat repositories.json) | sha256sum; }
before=$(snapshot)

check_bad() {  # check_bad WHAT SOURCE NAME EXPECTED-SUBSTRING
  local err
  err=$(ferry_as_user import "$2" "$3" 2>&1) && fail "$1: import succeeded"
  expect_status "$EXIT_FAILURE" ferry_as_user import "$2" "$3"
  [ "$(printf '%s\n' "$err" | wc -l)" = 1 ] || fail "$1: more than one line: $err"
  expect_contains "$err" "$4" "$1 message"
  expect_eq "$(snapshot)" "$before" "$1 leaves the store as it was"
}
# Each message says what is wrong, beyond the "import SOURCE:" prefix.
check_bad "truncated gzip" "tar:$T/truncated.tar.gz" bad/a "truncated gzip input"
check_bad "not a tarball" "tar:$T/garbage.tar" bad/b "Unrecognized archive format"
check_bad "hostile path" "tar:$T/hostile.tar" bad/c 'path has a ".." component'
check_bad "missing file" "tar:$T/none.tar" bad/d "open $T/none.tar: No such file or directory"
check_bad "unknown source kind" "zip:$T/plain.tar" bad/e "unknown source 'zip:"
check_bad "malformed name" "tar:$T/plain.tar" "Bad/Name" "invalid reference"
check_bad "sparse bomb" "tar:$T/sparse.tar" bad/f "./lastlog: sparse file whose holes pass ferry's limit of 2 TiB"
