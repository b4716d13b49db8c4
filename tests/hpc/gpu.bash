# Fixtures for tests/hpc/gpu_*.sh: fake GPUs made of real character devices.
#
# Source it before lib.sh. The test needs root (mknod); it re-runs itself in
# a private mount namespace, where it gives /dev a tmpfs of its own (the
# host's basic nodes bound in, placeholders for the fake GPUs), because a
# rootless container shares the host's /dev and ferry binds a device node
# only over an entry that /dev has, as a real GPU's would be.
if [ "$(id -u)" != 0 ]; then
  echo "SKIP: $(basename "$0" .sh): needs root to make device nodes" >&2
  exit 77
fi
if [ -z "${FERRY_GPU_NS:-}" ]; then
  exec env FERRY_GPU_NS=1 unshare --mount --propagation private bash "$0" "$@"
fi

# gpu_dev PLACEHOLDER...: /dev becomes a tmpfs holding the host's null,
# zero, full, random, urandom, tty and fuse (bound), pts and shm, and an
# empty regular file for each PLACEHOLDER (where a fake GPU gets bound).
gpu_dev() {
  local d=$T/newdev n
  mkdir "$d"
  mount -t tmpfs -o mode=0755 tmpfs "$d"
  for n in null zero full random urandom tty fuse; do
    [ -e "/dev/$n" ] || continue
    touch "$d/$n"
    mount --bind "/dev/$n" "$d/$n"
  done
  mkdir "$d/pts" "$d/shm"
  chmod 1777 "$d/shm"
  ln -s /proc/self/fd "$d/fd"
  for n in "$@"; do touch "$d/$n"; done
  mount --move "$d" /dev
}

# gpu_nodes DIR NAME...: a tmpfs at DIR (not nodev) with a character device
# DIR/NAME for each NAME: /dev/zero's numbers, so that it works when opened.
gpu_nodes() {
  local dir=$1 n
  shift
  mkdir -p "$dir"
  mount -t tmpfs -o mode=0755 tmpfs "$dir"
  for n in "$@"; do
    mkdir -p "$(dirname "$dir/$n")"
    mknod -m 0666 "$dir/$n" c 1 5
  done
}
