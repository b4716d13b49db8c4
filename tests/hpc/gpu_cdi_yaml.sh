# The same in YAML, spec versions 0.5.0 and 0.8.0: "=all" applies every
# device of a kind; of two spec directories the later one wins; with
# --writable-tmpfs the root stays writable after a hook.
. "$(dirname "$0")/gpu.bash"
. "$(dirname "$0")/../lib.sh"

gpu_nodes "$T/devs" a0 a1 b0
gpu_dev fa0 fa1 fb0
mkdir -p "$T/cdi1" "$T/cdi2"
cat >"$T/hook.sh" <<'SH'
#!/bin/sh
# The state arrives on stdin; the bundle's config.json (the working
# directory) names the root.
state=$(cat)
case "$state" in *'"status":"creating"'*) ;; *) echo "bad state: $state"; exit 1 ;; esac
root=$(sed -n 's/^ *"path": "\(.*\)",*$/\1/p' config.json)
echo "$MARK" >"$root/etc/ld.so.cache"
SH
chmod 0755 "$T/hook.sh"
cat >"$T/cdi1/a.yaml" <<YAML
cdiVersion: 0.5.0
kind: ferry.test/a
devices:
  - name: "0"
    containerEdits:
      deviceNodes:
        - path: /dev/fa0
          hostPath: $T/devs/a0
  - name: "1"
    containerEdits:
      deviceNodes:
        - {path: /dev/fa1, hostPath: "$T/devs/a1", fileMode: 0666}
containerEdits:
  env:
    - FROM=cdi1
YAML
# The same kind again in a later directory: its definition wins.
sed 's/FROM=cdi1/FROM=cdi2/' "$T/cdi1/a.yaml" >"$T/cdi2/a.yml"
cat >"$T/cdi2/b.yaml" <<YAML
cdiVersion: "0.8.0"
kind: ferry.test/b
devices:
- name: b0
  containerEdits:
    deviceNodes: [{path: /dev/fb0, hostPath: "$T/devs/b0"}]
    hooks:
    - hookName: createContainer
      path: $T/hook.sh
      env: [MARK=hooked-yaml]
YAML
chmod -R a+rX "$T/cdi1" "$T/cdi2"

while read -r form img; do
  out=$(as_user "$FERRY" run --cdi-spec-dir "$T/cdi1" --device ferry.test/a=all "$img" \
    sh -c 'test -c /dev/fa0 && test -c /dev/fa1 && test ! -c /dev/fb0 && echo "$FROM"')
  expect_eq "$out" "cdi1" "$form =all in YAML 0.5.0"
  out=$(as_user "$FERRY" run --cdi-spec-dir "$T/cdi1" --cdi-spec-dir "$T/cdi2" --device ferry.test/a=1 "$img" \
    sh -c 'test ! -c /dev/fa0 && test -c /dev/fa1 && echo "$FROM"')
  expect_eq "$out" "cdi2" "$form later spec directory wins"
  out=$(as_user "$FERRY" run --cdi-spec-dir "$T/cdi2" --device ferry.test/b=b0 "$img" \
    sh -c 'test -c /dev/fb0 && cat /etc/ld.so.cache && { touch /etc/x 2>/dev/null || echo read-only; }')
  expect_eq "$out" "$(printf 'hooked-yaml\nread-only')" "$form YAML 0.8.0 hook, root read-only after"
  out=$(as_user "$FERRY" run --writable-tmpfs --cdi-spec-dir "$T/cdi2" --device ferry.test/b=b0 "$img" \
    sh -c 'cat /etc/ld.so.cache && touch /newfile && echo writable')
  expect_eq "$out" "$(printf 'hooked-yaml\nwritable')" "$form --writable-tmpfs stays writable after a hook"
done < <(image_forms)
