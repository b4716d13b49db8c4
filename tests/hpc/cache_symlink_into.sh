# A volume that a symlink in the image leads into a per-node cache (data ->
# scratch/data, with --scratch /scratch): its mount point is made in the
# cache, which is the container's own, and the volume is there. (Into a
# host directory it would be refused: tests/run/default_bind_redirect.sh.)
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/cache.bash"

cache_setup
user_dir "$T/src"
echo volume-data >"$T/src/f"
chmod a+r "$T/src/f"
make_busybox_image "$T/img" >/dev/null
ln -s scratch/data "$T/img/data"

out=$(ferry_shared run --scratch /scratch:size=1M -v "$T/src:/data" "$T/img" sh -c 'cat /data/f; ls /scratch') ||
  fail "refused: $out"
expect_eq "$out" "$(printf 'volume-data\ndata')" "the volume, through the symlink, in the cache"
