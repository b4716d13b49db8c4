#!/usr/bin/env bash
# ferry's main job end to end, no internet needed: install the build
# dependencies, build ferry, make a small image from Debian's busybox-static
# (as a directory and as one SquashFS file), and run it rootless.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup-deps
cmake -S . -B build -G Ninja >/dev/null
cmake --build build
work=$(mktemp -d /tmp/ferry-quickstart.XXXXXX)
trap 'rm -rf "$work"' EXIT
root="$work/busybox"
mkdir -p "$root"/{bin,etc,dev,proc,sys,tmp,home}
cp /bin/busybox "$root/bin/"
for applet in $(/bin/busybox --list); do [ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"; done
printf 'NAME="busybox example"\nID=busybox\n' >"$root/etc/os-release"
echo 'root:x:0:0:root:/root:/bin/sh' >"$root/etc/passwd"
echo 'root:x:0:' >"$root/etc/group"
chmod -R a+rX "$work"
mksquashfs "$root" "$work/busybox.sqfs" -comp zstd -noappend -quiet -all-root
cat >"$work/busybox.sqfs.config.json" <<'JSON'
{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/bin","GREETING=hello from the image"],
 "Cmd":["/bin/sh","-c","echo \"$GREETING\"; . /etc/os-release; echo \"running $NAME as $(id -un) (uid $(id -u)) in $(pwd)\""]}}
JSON
# SquashFS needs a usable /dev/fuse; Debian ships it 0600, sites use 0666.
if [ ! -w /dev/fuse ]; then
  echo "note: /dev/fuse is not writable by you; the SquashFS run needs it mode 0666 (sudo chmod 0666 /dev/fuse)"
fi
echo "== ferry run (directory image)"
build/ferry run "$root" /bin/sh -c '. /etc/os-release; echo "$NAME: uid $(id -u), root is read-only: $(touch /x 2>/dev/null && echo no || echo yes)"'
echo "== ferry run (SquashFS image, its own entrypoint)"
build/ferry run "$work/busybox.sqfs"
