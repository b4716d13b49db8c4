# A hostile image cannot aim a volume at the host: a DST reached through a
# symlink that climbs above the image root with '..' is refused, and an
# absolute symlink is resolved inside the container, never on the host. A
# symlink through a directory the image lacks and then '..' (x/../..) is
# refused too: the mount points ferry makes are made by path in a layer,
# where x/.. would climb out of it (a volume's point in the container's
# layer; home's in a mount holder's).
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
dd_target=$H/u/dd-escaped
ln -s "x/../../../../../../../../..$dd_target" "$T/img/dotdot"

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

  err=$(as_user "$FERRY" run -v "$src:/dotdot/y" "$img" true 2>&1) && fail "$form: volume through x/.. accepted"
  [ ! -e "$dd_target" ] || fail "$form: $dd_target was created on the host"
  expect_eq "$err" "ferry: run $img: volume $src:/dotdot/y: /dotdot/y: a symlink in the image leads through a missing \
directory and then '..'; no mount point is made for it" "$form x/.. message"

  # The image itself still has only its symlinks.
  [ ! -d "$img" ] || expect_eq "$(readlink "$img/abs")" "$abs_target" "$form image symlink untouched"
done < <(image_forms)

# The home's mount point through x/..: refused by the container, and a mount
# holder, which makes the standard points (home) in its shared layer, makes
# nothing either.
mkdir -p "$T/home-img/home"
ln -s "x/../../../../../../../../..$H/u/home-escaped" "$T/home-img/home/$TEST_USER"
chmod -R a+rX "$T/home-img"
forms="dir $T/home-img"
if command -v mksquashfs >/dev/null && [ -c /dev/fuse ]; then
  make_squashfs "$T/home-img" "$T/home-img.sqfs"
  share_setup 1
  forms="$forms
sqfs $T/home-img.sqfs"
fi
while read -r form img; do
  err=$(as_user env ${XDG:+XDG_RUNTIME_DIR="$XDG" XDG_CONFIG_HOME="$CFG"} "$FERRY" run "$img" true 2>&1) &&
    fail "$form: home through x/.. accepted"
  [ ! -e "$H/u/home-escaped" ] || fail "$form: $H/u/home-escaped was created on the host"
  expect_contains "$err" "a symlink in the image leads through a missing directory and then '..'" "$form home message"
done <<<"$forms"

