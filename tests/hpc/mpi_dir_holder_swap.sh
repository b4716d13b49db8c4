# A directory image's holder is keyed by the directory's device and inode,
# not its name: after the name is swapped for a symlink to another tree, a
# container of that name gets that tree's own holder (and sees that tree,
# as a private container would), never the old holder with the new tree;
# the old directory, under its new name, still joins its old holder.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/mpi.bash"

share_setup 600
make_mpi_image "$T/img"
echo a >"$T/img/marker"
cp -a "$T/img" "$T/b"
echo b >"$T/b/marker"
chmod a+r "$T/img/marker" "$T/b/marker"
run_mpi() { ferry_shared run --mpi "$@" cat /marker; }

expect_eq "$(run_mpi "$T/img")" a "the directory, first run"
k1=$(holder_keys)
[ -n "$k1" ] || fail "no holder after ferry run --mpi DIR"

mv "$T/img" "$T/old"
ln -s "$T/b" "$T/img"
expect_eq "$(run_mpi "$T/img")" b "the name, now a symlink to another tree"
expect_eq "$(run_mpi --no-share "$T/img")" b "the same name without a holder"
expect_eq "$(holder_keys | wc -l)" 2 "holders: the old directory's and the new tree's"
k2=$(holder_keys | grep -vx "$k1")
path2=$(ferry_shared mounts --format json |
  /usr/bin/python3 -c 'import json,sys; print({h["Key"]: h["Path"] for h in json.load(sys.stdin)}[sys.argv[1]])' "$k2")
expect_eq "$path2" "$T/b" "the new holder's directory"

expect_eq "$(run_mpi "$T/old")" a "the old directory under its new name"
expect_eq "$(holder_keys | wc -l)" 2 "holders after the old directory ran again (it joined its own)"
expect_eq "$(holders_in_proc "$k1" | wc -w)" 1 "the old directory's holder"
ferry_shared umount --all >/dev/null
expect_eq "$(holder_keys)" "" "holders after ferry umount --all"
