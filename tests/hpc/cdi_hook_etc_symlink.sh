# createContainer hooks (a CDI device's) write in the root's /etc (ldconfig's
# cache, ld.so.conf.d) and are not chrooted: with /etc/ld.so.conf.d a
# symlink in the image (here into /tmp, the host's), their writes would land
# on the host. The container is refused with one line and the hook never
# runs.
. "$(dirname "$0")/../lib.sh"

u=ferry-hook-$(basename "$T")
at_exit "rm -rf '/tmp/$u'"
# Where the hook leaves its mark: hooks run after ferry's staging tmpfs has
# covered the host's /tmp (and $T in it).
M=$(mktemp -d /var/tmp/ferry-hook.XXXXXX)
at_exit 'rm -rf "$M"'
user_dir "$M"
mkdir -p "$T/cdi"
cat >"$T/hook.sh" <<SH
#!/bin/sh
echo ran >"$M/hook-ran"
SH
chmod 0755 "$T/hook.sh"
cat >"$T/cdi/hook.json" <<JSON
{"cdiVersion": "0.6.0", "kind": "ferry.test/hook",
 "devices": [{"name": "0", "containerEdits": {"env": ["HOOKED=1"]}}],
 "containerEdits": {"hooks": [{"hookName": "createContainer", "path": "$T/hook.sh"}]}}
JSON
chmod -R a+rX "$T/cdi"

make_busybox_image "$T/img" >/dev/null
# Without the symlink the hook runs.
expect_eq "$(as_user "$FERRY" run --cdi-spec-dir "$T/cdi" --device ferry.test/hook=0 "$T/img" sh -c 'echo $HOOKED')" \
  "1" "hooked run"
[ -f "$M/hook-ran" ] || fail "the hook did not run without the symlink"
rm -f "$M/hook-ran"

ln -s "/tmp/$u" "$T/img/etc/ld.so.conf.d"
err=$(as_user "$FERRY" run --cdi-spec-dir "$T/cdi" --device ferry.test/hook=0 "$T/img" true 2>&1) &&
  fail "hooks ran with /etc/ld.so.conf.d a symlink"
expect_eq "$err" \
  "ferry: run $T/img: createContainer hooks write in /etc/ld.so.conf.d, which is a symlink in the image: not run" \
  "message"
[ ! -e "$M/hook-ran" ] || fail "the hook ran"
