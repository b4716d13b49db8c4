# --device with a JSON CDI spec in a --cdi-spec-dir: the device node is bound
# from its hostPath and usable, env and mounts are applied, and the
# createContainer hook gets the OCI state on stdin, finds the root through
# the bundle's config.json and writes into it; the root is read-only again
# afterwards and the image is unchanged.
. "$(dirname "$0")/gpu.bash"
. "$(dirname "$0")/../lib.sh"

gpu_nodes "$T/devs" fake0
gpu_dev fakegpu0
mkdir -p "$T/share" "$T/cdi"
echo shared-data >"$T/share/f"
cat >"$T/hook.py" <<'PY'
#!/usr/bin/python3
import json, os, subprocess, sys
state = json.load(sys.stdin)
config = json.load(open(os.path.join(state["bundle"], "config.json")))
root = config["root"]["path"]
with open(root + os.environ["HOOK_OUT"], "w") as f:
    f.write("%s %s %s %s\n" % (state["status"], state["ociVersion"], sys.argv[1], state["pid"] > 0))
# What nvidia-cdi-hook update-ldcache does: chroot into the root (it needs
# the namespace's CAP_SYS_CHROOT, kept for hooks as an ambient capability).
rc = subprocess.run(["/usr/sbin/chroot", root, "/bin/true"]).returncode
with open(root + os.environ["HOOK_OUT"] + ".chroot", "w") as f:
    f.write("chroot %s\n" % ("ok" if rc == 0 else "failed"))
PY
chmod 0755 "$T/hook.py"
cat >"$T/cdi/fake.json" <<JSON
{
  "cdiVersion": "0.6.0",
  "kind": "ferry.test/gpu",
  "devices": [
    {"name": "0", "containerEdits": {
      "env": ["FAKE_GPU=0"],
      "deviceNodes": [{"path": "/dev/fakegpu0", "hostPath": "$T/devs/fake0", "type": "c", "permissions": "rw"}]}},
    {"name": "1", "containerEdits": {"env": ["FAKE_GPU=1"]}}
  ],
  "containerEdits": {
    "env": ["FAKE_VENDOR=yes"],
    "mounts": [{"hostPath": "$T/share", "containerPath": "/opt/fake", "options": ["ro", "nosuid", "bind"]}],
    "hooks": [{"hookName": "createContainer", "path": "$T/hook.py", "args": ["hook.py", "arg1"],
               "env": ["HOOK_OUT=/etc/hooked"], "timeout": 30}]
  }
}
JSON
chmod -R a+rX "$T/cdi" "$T/share"

while read -r form img; do
  run_dev() { as_user "$FERRY" run --cdi-spec-dir "$T/cdi" --device ferry.test/gpu=0 "$img" "$@"; }
  # The node is the host's /dev/zero-like device, not the placeholder file.
  expect_status 0 run_dev test -c /dev/fakegpu0
  expect_eq "$(run_dev sh -c 'head -c 4 /dev/fakegpu0 | od -An -tx1' | tr -d ' ')" "00000000" "$form device reads"
  expect_eq "$(run_dev sh -c 'echo "$FAKE_VENDOR $FAKE_GPU"')" "yes 0" "$form env"
  expect_eq "$(run_dev cat /opt/fake/f)" "shared-data" "$form mount"
  expect_status 1 run_dev touch /opt/fake/new
  expect_eq "$(run_dev cat /etc/hooked)" "creating 1.0.2 arg1 True" "$form hook wrote into the root"
  expect_eq "$(run_dev cat /etc/hooked.chroot)" "chroot ok" "$form hook may chroot (namespace capabilities kept)"
  # Read-only again after the hook, everywhere the image is.
  expect_status 1 run_dev touch /newfile
  expect_status 1 run_dev touch /etc/other
  # Without the device the placeholder is a plain file, and no hook ran.
  expect_status 1 as_user "$FERRY" run "$img" test -c /dev/fakegpu0
  expect_status 1 as_user "$FERRY" run "$img" test -e /etc/hooked
  if [ -d "$img" ]; then [ ! -e "$img/etc/hooked" ] || fail "$form: the hook wrote into the image"; fi
done < <(image_forms)
