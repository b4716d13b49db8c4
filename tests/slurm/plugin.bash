# Prelude of the plugin tests, sourced after tests/lib.sh and slurm.bash:
#
#   plugin_cluster [PLUGSTACK_ARG...]
#     skips when spank_ferry.so was not built or FUSE is not usable; makes
#     the busybox image $T/img (its /etc/os-release says "ferry slurm
#     image"; a test's image_extra function, when defined, adds to it
#     first) and $T/img.sqfs; starts the cluster with the plugin
#     ($PLUGIN, ferry=$FERRY and the arguments).

#   tasks_unprivileged PID...
#     each task runs as the test user (all four uids), with NoNewPrivs 1 and
#     no effective capability.

PLUGIN=$(dirname "$FERRY")/spank_ferry.so

tasks_unprivileged() {
  local t
  for t in "$@"; do
    expect_eq "$(awk '/^Uid/ {print $2 $3 $4 $5}' "/proc/$t/status")" "$TEST_UID$TEST_UID$TEST_UID$TEST_UID" "uids of task $t"
    expect_eq "$(awk '/^NoNewPrivs/ {print $2}' "/proc/$t/status")" 1 "NoNewPrivs of task $t"
    expect_eq "$(awk '/^CapEff/ {print $2}' "/proc/$t/status")" 0000000000000000 "CapEff of task $t"
  done
}

plugin_cluster() {
  [ -e "$PLUGIN" ] || skip "spank_ferry.so was not built (no slurm/spank.h)"
  need_fuse
  make_busybox_image "$T/img"
  printf 'NAME="ferry slurm image"\n' >"$T/img/etc/os-release"
  if declare -F image_extra >/dev/null; then image_extra; fi
  make_squashfs "$T/img" "$T/img.sqfs"
  slurm_start "required $PLUGIN ferry=$FERRY${*:+ $*}"
}

# files_appear DIR N: waits up to 10 s until DIR holds N entries (tasks
# writing one file each); false when it does not.
files_appear() {
  for _ in $(seq 200); do [ "$(ls "$1" | wc -l)" = "$2" ] && return 0; sleep 0.05; done
  [ "$(ls "$1" | wc -l)" = "$2" ]
}
