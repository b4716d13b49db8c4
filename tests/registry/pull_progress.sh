# Progress: on a terminal, a line per layer and a total, redrawn in place;
# otherwise one plain line per layer when it is complete; nothing with -q.
# stdout carries only the image id in every case.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/registry.bash"
command -v script >/dev/null || skip "script (bsdutils) is not installed"

registry_start plain
registry_busybox_layout "$T/img" v1 >/dev/null
registry_upload_oci "$T/img" test/bb:v1 >/dev/null
ref="$REGISTRY/test/bb:v1"
fresh() { rm -rf "$T/store" && user_dir "$T/store"; }
ferry_as_user() { as_user env FERRY_STORE="$T/store" "$FERRY" "$@"; }

# Not a terminal: one line per layer on stderr, the id alone on stdout.
fresh
ferry_as_user pull --tls-verify=false "$ref" >"$T/out" 2>"$T/err" || fail "pull: $(cat "$T/err")"
expect_eq "$(wc -l <"$T/out")" 1 "stdout: the id only"
grep -q '^sha256:[0-9a-f]\{64\}$' "$T/out" || fail "stdout is not an id: $(cat "$T/out")"
expect_eq "$(grep -c ': downloaded (' "$T/err")" 2 "one line per layer: $(cat "$T/err")"
grep -q $'\033' "$T/err" && fail "terminal codes when stderr is not a terminal"

# -q: nothing on stderr.
fresh
ferry_as_user pull -q --tls-verify=false "$ref" >/dev/null 2>"$T/err" || fail "pull -q failed"
[ ! -s "$T/err" ] || fail "pull -q printed: $(cat "$T/err")"

# A terminal: per-layer bars and a total line, drawn with cursor movement.
fresh
as_user env FERRY_STORE="$T/store" script -qec "$FERRY pull --tls-verify=false $ref" /dev/null >"$T/tty" 2>&1 ||
  fail "pull on a terminal failed: $(cat "$T/tty")"
grep -q 'total' "$T/tty" || fail "no total line on a terminal: $(cat -v "$T/tty")"
grep -q 'sha256:[0-9a-f]\{12\} *\[#' "$T/tty" || fail "no layer bar on a terminal: $(cat -v "$T/tty")"
grep -q $'\033\\[K' "$T/tty" || fail "lines are not redrawn in place: $(cat -v "$T/tty")"
echo "PASS: $TEST_NAME"
