# -v SRC[:DST[:ro|rw]] binds a host path: read-write by default (files land on
# the host as the user), read-only with :ro, at a DST the image lacks without
# changing the image; a missing source or a malformed spec is one line, 125.
. "$(dirname "$0")/../lib.sh"

src=$T/src
user_dir "$src"
echo host-data >"$src/in.txt"
echo single-file >"$T/single.txt"
chmod a+r "$src/in.txt" "$T/single.txt"

image_state() {
  if [ -f "$1" ]; then sha256sum <"$1"; else find "$1" -printf '%p %s %m %T@\n' | sort | sha256sum; fi
}

while read -r form img; do
  before=$(image_state "$img")

  # Read-write (the default, and :rw): the file written inside is the user's on the host.
  out=$(as_user "$FERRY" run -v "$src:/mnt" "$img" sh -c "cat /mnt/in.txt && echo rw-$form >/mnt/out-$form")
  expect_eq "$out" "host-data" "$form rw volume read"
  expect_eq "$(cat "$src/out-$form")" "rw-$form" "$form rw volume write reached the host"
  expect_eq "$(stat -c %u:%g "$src/out-$form")" "$TEST_UID:$TEST_GID" "$form owner of a file written in a volume"
  expect_status 0 as_user "$FERRY" run -v "$src:/mnt:rw" "$img" touch "/mnt/rw2-$form"
  [ -f "$src/rw2-$form" ] || fail "$form: write through :rw volume did not reach the host"

  # Read-only: readable, not writable, nothing reaches the host.
  expect_eq "$(as_user "$FERRY" run -v "$src:/ro:ro" "$img" cat /ro/in.txt)" "host-data" "$form ro volume read"
  expect_status 1 as_user "$FERRY" run -v "$src:/ro:ro" "$img" touch "/ro/ro-$form"
  [ ! -e "$src/ro-$form" ] || fail "$form: write through :ro volume reached the host"
  out=$(as_user "$FERRY" run -v "$src:/ro:ro" "$img" /probe mount /ro)
  expect_contains "$out" "ro=1" "$form ro volume mount flag"

  # SRC alone means the same path inside.
  expect_eq "$(as_user "$FERRY" run -v "$src" "$img" cat "$src/in.txt")" "host-data" "$form SRC-only volume"

  # A destination several levels below anything in the image.
  expect_eq "$(as_user "$FERRY" run -v "$src:/data/deep/x" "$img" cat /data/deep/x/in.txt)" "host-data" \
    "$form volume at a missing deep DST"

  # Shifter's spelling.
  expect_eq "$(as_user "$FERRY" run "--volume=$src:/shifter" "$img" cat /shifter/in.txt)" "host-data" \
    "$form --volume=SRC:DST"

  # A single file: onto a new path and over a file the image has.
  expect_eq "$(as_user "$FERRY" run -v "$T/single.txt:/etc/single.txt" "$img" cat /etc/single.txt)" \
    "single-file" "$form single-file volume at a new path"
  expect_eq "$(as_user "$FERRY" run -v "$T/single.txt:/etc/os-release:ro" "$img" cat /etc/os-release)" \
    "single-file" "$form single-file volume over an image file"

  after=$(image_state "$img")
  expect_eq "$after" "$before" "$form image unchanged by volume mount points"
  if [ -d "$img" ]; then
    for p in mnt ro data shifter etc/single.txt; do
      [ ! -e "$img/$p" ] || fail "$form: a mount point was created in the image directory: $p"
    done
  fi

  # Missing source.
  err=$(as_user "$FERRY" run -v "$T/no-such-src:/x" "$img" true 2>&1) && fail "$form: missing source succeeded"
  expect_eq "$err" "ferry: run $img: volume $T/no-such-src: source does not exist" "$form missing source message"
  expect_status "$EXIT_FAILURE" as_user "$FERRY" run -v "$T/no-such-src:/x" "$img" true

  # Malformed specs: each message names the spec.
  err=$(as_user "$FERRY" run -v "$src:relative" "$img" true 2>&1) && fail "$form: relative DST accepted"
  expect_eq "$err" "ferry: run $img: volume '$src:relative': destination must be an absolute path without '..'" \
    "$form relative DST message"
  expect_status "$EXIT_FAILURE" as_user "$FERRY" run -v "$src:relative" "$img" true
  err=$(as_user "$FERRY" run -v "$src:/b/../c" "$img" true 2>&1) && fail "$form: DST with .. accepted"
  expect_eq "$err" "ferry: run $img: volume '$src:/b/../c': destination must be an absolute path without '..'" \
    "$form DST with .. message"
  err=$(as_user "$FERRY" run -v "$src:/b:bogus" "$img" true 2>&1) && fail "$form: unknown volume option accepted"
  expect_eq "$err" "ferry: run $img: volume '$src:/b:bogus': unknown option 'bogus' (expected ro or rw)" \
    "$form unknown option message"
  expect_status "$EXIT_FAILURE" as_user "$FERRY" run -v "$src:/b:bogus" "$img" true
  err=$(as_user "$FERRY" run -v "$src:/b:ro:x" "$img" true 2>&1) && fail "$form: four-part spec accepted"
  expect_eq "$err" "ferry: run $img: volume '$src:/b:ro:x': expected SRC[:DST[:ro|rw]]" "$form four-part spec message"
done < <(image_forms)
