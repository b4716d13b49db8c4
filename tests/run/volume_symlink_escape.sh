# A hostile image cannot aim a volume at the host: a DST reached through a
# symlink that climbs above the image root with '..' is refused, and an
# absolute symlink is resolved inside the container, never on the host.
. "$(dirname "$0")/../lib.sh"

# Host places the test user could write to, outside every default bind (so a
# resolution on the host would leave a trace there), and one at the host root.
H=$(mktemp -d /var/tmp/ferry-escape.XXXXXX)
at_exit 'rm -rf "$H"'
user_dir "$H/u"
chmod 0755 "$H"
id=$(basename "$T")
rel_target=$H/u/rel-escaped
abs_target=$H/u/abs-escaped
root_target=/ferry-abs-$id

src=$T/src
user_dir "$src"
echo host-data >"$src/in.txt"
chmod a+r "$src/in.txt"

mkdir -p "$T/img"
ln -s "../../../../../../../..$rel_target" "$T/img/escape"
ln -s "$abs_target" "$T/img/abs"
ln -s "$root_target" "$T/img/absroot"

while read -r form img; do
  err=$(as_user "$FERRY" run -v "$src:/escape/x" "$img" true 2>&1) && fail "$form: volume through escape symlink accepted"
  expect_eq "$err" "ferry: run $img: volume $src:/escape/x: /escape/x: resolves outside the container root through a symlink" \
    "$form escape message"
  expect_status "$EXIT_FAILURE" as_user "$FERRY" run -v "$src:/escape/x" "$img" true
  [ ! -e "$rel_target" ] || fail "$form: $rel_target was created on the host"
  # The same when the symlink is DST itself.
  err=$(as_user "$FERRY" run -v "$src:/escape" "$img" true 2>&1) && fail "$form: volume onto escape symlink accepted"
  expect_eq "$err" "ferry: run $img: volume $src:/escape: /escape: resolves outside the container root through a symlink" \
    "$form escape message (symlink as DST)"
  [ ! -e "$rel_target" ] || fail "$form: $rel_target was created on the host"

  # The absolute link leads to the same path inside the container.
  out=$(as_user "$FERRY" run -v "$src:/abs/x" "$img" sh -c "cat /abs/x/in.txt && cat $abs_target/x/in.txt")
  expect_eq "$out" "$(printf 'host-data\nhost-data')" "$form volume through absolute symlink"
  [ ! -e "$abs_target" ] || fail "$form: $abs_target was created on the host"
  expect_eq "$(as_user "$FERRY" run -v "$src:/abs" "$img" cat "$abs_target/in.txt")" "host-data" \
    "$form volume onto an absolute symlink"
  [ ! -e "$abs_target" ] || fail "$form: $abs_target was created on the host"

  out=$(as_user "$FERRY" run -v "$src:/absroot/x" "$img" sh -c "cat /absroot/x/in.txt && cat $root_target/x/in.txt")
  expect_eq "$out" "$(printf 'host-data\nhost-data')" "$form volume through absolute symlink at /"
  [ ! -e "$root_target" ] || fail "$form: $root_target was created on the host"

  # The image itself still has only its symlinks.
  [ ! -d "$img" ] || expect_eq "$(readlink "$img/abs")" "$abs_target" "$form image symlink untouched"
done < <(image_forms)
