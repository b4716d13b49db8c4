# Two containers on one node, running at once, each with a per-node cache at
# the same place: neither sees what the other wrote.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/cache.bash"

cache_setup
user_dir "$T/u"

# one NAME OTHER: writes /cache/NAME, says so, waits for OTHER to have
# written, then lists its cache.
one() {
  ferry_shared run -v "$T/u:/u" -v "/ignored:/cache:perNodeCache=size=8M" "$img" sh -c "
    echo $1 >/cache/$1 && touch /u/$1-$form
    i=0; while [ ! -e /u/$2-$form ] && [ \$i -lt 400 ]; do sleep 0.05; i=\$((i+1)); done
    ls /cache" >"$T/out-$1-$form"
}

while read -r form img; do
  one a b &
  pa=$!
  one b a &
  pb=$!
  wait "$pa" || fail "$form: container a failed"
  wait "$pb" || fail "$form: container b failed"
  [ -e "$T/u/a-$form" ] && [ -e "$T/u/b-$form" ] || fail "$form: the containers did not both write"
  expect_eq "$(cat "$T/out-a-$form")" "a" "$form cache of a"
  expect_eq "$(cat "$T/out-b-$form")" "b" "$form cache of b"
done < <(image_forms)
