# A per-node cache (-v X:DST:perNodeCache=size=SIZE, Shifter's spelling)
# takes writes up to SIZE, fails the write that goes past it with ENOSPC
# ("No space left on device"), gives the space back when files are
# removed, and df inside shows SIZE. Directory and SquashFS images.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/cache.bash"

cache_setup

target=$(printf 'x%.0s' $(seq 200))
while read -r form img; do
  out=$(ferry_shared run -v "/ignored:/cache:perNodeCache=size=16M" "$img" sh -c '
    dd if=/dev/zero of=/cache/a bs=1M count=12 2>/dev/null && echo "12M: ok"
    dd if=/dev/zero of=/cache/b bs=1M count=8 2>&1 && echo "8M more: ok"
    test "$(stat -c %s /cache/b)" -lt 8388608 && echo "b: short"
    rm /cache/a /cache/b && dd if=/dev/zero of=/cache/c bs=1M count=12 2>/dev/null && echo "after rm: ok"
    mkdir -p /cache/d/e && echo f >/cache/d/e/f && cat /cache/d/e/f
    df -k /cache | tail -n 1') || fail "$form: the container failed: $out"
  expect_contains "$out" "12M: ok" "$form write within SIZE"
  expect_contains "$out" "No space left on device" "$form write past SIZE"
  case "$out" in *"8M more: ok"*) fail "$form: a write past SIZE succeeded: $out" ;; esac
  expect_contains "$out" "b: short" "$form file cut at SIZE"
  expect_contains "$out" "after rm: ok" "$form space freed by rm"
  expect_contains "$out" $'\nf\n' "$form nested directories"
  expect_eq "$(printf '%s\n' "$out" | tail -n 1 | awk '{print $2}')" 16384 "$form df 1K-blocks"

  # A file removed while still open frees its space only when closed.
  out=$(ferry_shared run -v "/ignored:/cache:perNodeCache=size=8M" "$img" sh -c '
    dd if=/dev/zero of=/cache/a bs=1M count=6 2>/dev/null
    exec 3</cache/a; rm /cache/a
    dd if=/dev/zero of=/cache/b bs=1M count=4 2>/dev/null && echo "open: ok" || echo "open: full"
    exec 3<&-; rm -f /cache/b
    dd if=/dev/zero of=/cache/b bs=1M count=4 2>/dev/null && echo "closed: ok"')
  expect_contains "$out" "open: full" "$form removed but open file still counts"
  expect_contains "$out" "closed: ok" "$form removed file freed at close"

  # Removing only gives back what was charged: symlink churn (a 200-byte
  # target takes a block on ext4) and a directory grown then removed must
  # not make room past SIZE, and df's Used stays within SIZE (it went
  # negative, i.e. huge, before).
  out=$(ferry_shared run --scratch /cache:size=4M "$img" sh -c '
    dd if=/dev/zero of=/cache/pre bs=1M count=2 2>/dev/null
    i=0; while [ $i -lt 2000 ]; do ln -s "$1" /cache/l && rm /cache/l || exit 1; i=$((i + 1)); done
    mkdir /cache/d && i=0; while [ $i -lt 300 ]; do touch /cache/d/name-long-enough-to-grow-the-directory-$i; i=$((i + 1)); done
    rm -r /cache/d
    dd if=/dev/zero of=/cache/big bs=1M count=12 2>&1 && echo "12M: ok"
    echo "stored $(($(stat -c %s /cache/pre) + $(stat -c %s /cache/big)))"
    df -k /cache | tail -n 1' sh "$target") || fail "$form: the churn container failed: $out"
  expect_contains "$out" "No space left on device" "$form write past SIZE after churn"
  case "$out" in *"12M: ok"*) fail "$form: a write past SIZE succeeded after churn: $out" ;; esac
  stored=$(printf '%s\n' "$out" | sed -n 's/^stored //p')
  [ -n "$stored" ] && [ "$stored" -le 4194304 ] || fail "$form: $stored bytes stored in a 4M cache after churn: $out"
  used=$(printf '%s\n' "$out" | tail -n 1 | awk '{print $3}')
  [ "$used" -ge 0 ] && [ "$used" -le 4096 ] || fail "$form: df Used after churn is $used KiB: $out"
done < <(image_forms)
