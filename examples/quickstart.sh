#!/usr/bin/env bash
# ferry's main job end to end, no internet needed: install the build
# dependencies, build ferry, make a small image from Debian's busybox-static
# (as a directory and as one SquashFS file), and run it rootless; then import
# it into a store, push it to Debian's docker-registry started on loopback,
# forget it, pull it back and run it by name.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup-deps
cmake -S . -B build -G Ninja >/dev/null
cmake --build build
work=$(mktemp -d /tmp/ferry-quickstart.XXXXXX)
registry_pid=
trap '[ -z "$registry_pid" ] || kill "$registry_pid" 2>/dev/null; rm -rf "$work"' EXIT
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

echo "== ferry import, push to a loopback registry, rmi, pull, run"
export FERRY_STORE="$work/store"
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$work/registry.yml" <<YML
version: 0.1
storage: {filesystem: {rootdirectory: $work/registry}}
http: {addr: 127.0.0.1:$port}
log: {level: error, accesslog: {disabled: true}}
YML
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
registry_pid=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/v2/" >/dev/null && break; sleep 0.1; done
build/ferry import "dir:$root" example/busybox:1.0
build/ferry push -q --tls-verify=false example/busybox:1.0 "127.0.0.1:$port/example/busybox:1.0"
build/ferry rmi example/busybox:1.0
build/ferry pull --tls-verify=false "127.0.0.1:$port/example/busybox:1.0"
build/ferry images
build/ferry run "127.0.0.1:$port/example/busybox:1.0" /bin/sh -c '. /etc/os-release; echo "pulled $NAME runs as uid $(id -u)"'
