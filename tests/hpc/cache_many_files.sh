# Each file of a per-node cache that the kernel knows is an open descriptor
# in ferry: ferry raises its soft open-file limit to the hard one, so a
# cache holds more files than a low soft limit (ulimit -Sn 1024) allows.
# The command in the container still gets the user's own soft limit.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/cache.bash"

cache_setup
hard=$(ulimit -Hn)
[ "$hard" = unlimited ] || [ "$hard" -ge 4096 ] || skip "the hard open-file limit ($hard) is below 4096"

while read -r form img; do
  out=$(as_user env XDG_RUNTIME_DIR="$XDG" XDG_CONFIG_HOME="$CFG" sh -c 'ulimit -Sn 1024 && exec "$0" "$@"' \
    "$FERRY" run --scratch /cache:size=64M "$img" sh -c '
      i=0; while [ $i -lt 1500 ]; do : >/cache/f$i || exit 1; i=$((i + 1)); done
      ls /cache | wc -l; ulimit -Sn') || fail "$form: the container failed: $out"
  expect_eq "$out" "$(printf '1500\n1024')" "$form files in the cache under ulimit -Sn 1024, and the command's own limit"
done < <(image_forms)
