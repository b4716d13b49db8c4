# --no-share, and [mounts] share = false in ferry.toml, give a container a
# private FUSE mount served by its own ferry: no holder is started or
# joined, even when one for the image is running.
. "$(dirname "$0")/../lib.sh"

need_fuse
share_setup 60
make_busybox_image "$T/img"
make_squashfs "$T/img" "$T/img.sqfs"
mkdir -m 0777 "$T/u"

# probe CFGDIR ARG...: a container that reports its FUSE device and waits.
probe() {
  local cfg=$1
  shift
  rm -f "$T/u/pid" "$T/u/go"
  as_user env XDG_RUNTIME_DIR="$XDG" XDG_CONFIG_HOME="$cfg" "$FERRY" run "$@" -v "$T/u:/u" "$T/img.sqfs" \
    sh -c 'echo $$ >/u/pid.tmp; mv /u/pid.tmp /u/pid; i=0; while [ ! -e /u/go ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i + 1)); done' &
  ppid_=$!
  for _ in $(seq 200); do [ -s "$T/u/pid" ] && break; sleep 0.05; done
  [ -s "$T/u/pid" ] || fail "the container ($*) did not start"
  ferry_pid=$(ps -o ppid= -p "$(cat "$T/u/pid")" | tr -d ' ')  # the container's parent: its ferry
}

probe "$CFG" --no-share
expect_eq "$(holder_keys)" "" "holders after a --no-share run"
has_fuse_fd "$ferry_pid" || fail "ferry --no-share does not serve its own FUSE mount"
touch "$T/u/go"
wait "$ppid_"

# With a holder running, --no-share still mounts privately.
ferry_shared run "$T/img.sqfs" true
key=$(holder_keys)
holder=$(holders_in_proc "$key")
probe "$CFG" --no-share
[ "$(fuse_devs "$(cat "$T/u/pid")")" != "$(fuse_devs "$holder")" ] || fail "--no-share used the holder's mount"
touch "$T/u/go"
wait "$ppid_"

# The same from ferry.toml.
mkdir -p "$T/cfg2/ferry"
printf '[mounts]\nshare = false\n' >"$T/cfg2/ferry/ferry.toml"
chmod -R a+rX "$T/cfg2"
probe "$T/cfg2"
[ "$(fuse_devs "$(cat "$T/u/pid")")" != "$(fuse_devs "$holder")" ] || fail "share = false used the holder's mount"
has_fuse_fd "$ferry_pid" || fail "ferry with share = false does not serve its own FUSE mount"
touch "$T/u/go"
wait "$ppid_"
expect_eq "$(holder_keys)" "$key" "holders: still only the one a shared run started"
ferry_shared umount --all >/dev/null
