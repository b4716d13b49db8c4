# ferry pull from a registry with htpasswd (HTTP Basic) auth: refused
# anonymously and with a wrong password (one line each); credentials from
# --creds, `ferry login` (auth.json, mode 0600; `ferry logout` forgets them),
# FERRY_REGISTRY_USER/PASSWORD and ~/.docker/config.json all work; the
# password appears in no output, --debug included.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/registry.bash"
. "$(dirname "$0")/pull_lib.bash"
need_fuse

registry_with_busybox "$T/img" basic
ref=$REGISTRY/test/busybox:v1
user_config "[registries.\"$REGISTRY\"]
insecure = true"
auth=$USER_CONFIG/ferry/auth.json
basic=$(printf '%s' "$REGISTRY_USER:$REGISTRY_PASS" | base64 -w0)
# Every output of ferry is kept here, to look for the password at the end.
out=$T/outputs
: >"$out"
keep() { printf '%s\n' "$1" >>"$out"; }
# pulled WHAT: the image was pulled into an empty store, runs, is then removed.
pulled() {
  expect_eq "$(ferry_as_user run "$ref")" v1 "$1: runs"
  rm -rf "$STORE" && user_dir "$STORE"
}

# Anonymous: refused, saying what to do.
expect_fail err pull -q "$ref"
keep "$err"
expect_contains "$err" "pull $ref: " "anonymous: names the reference"
expect_contains "$err" "authentication required" "anonymous"

# --creds.
keep "$(ferry_as_user pull --creds "$REGISTRY_USER:$REGISTRY_PASS" "$ref" 2>&1)"
pulled "--creds"
expect_fail err pull -q --creds "$REGISTRY_USER:wrong-$REGISTRY_PASS" "$ref"
keep "$err"
expect_contains "$err" "pull $ref: " "wrong --creds: names the reference"
expect_contains "$err" "access denied with the credentials given for $REGISTRY" "wrong --creds"
expect_fail err pull -q --creds "no-colon" "$ref"
expect_contains "$err" "USER:PASSWORD" "--creds without a colon"

# ferry login: a wrong password is refused and not saved.
rc=0
err=$(printf '%s\n' "wrong-$REGISTRY_PASS" | ferry_as_user login -u "$REGISTRY_USER" --password-stdin "$REGISTRY" 2>&1) || rc=$?
keep "$err"
expect_eq "$rc" "$EXIT_FAILURE" "login with a wrong password: exit status"
expect_one_line "$err" "login with a wrong password"
expect_contains "$err" "login $REGISTRY: " "login with a wrong password: names the registry"
[ ! -e "$auth" ] || fail "a refused login wrote $auth"
# The right one is saved, 0600, and used by pull.
msg=$(printf '%s\n' "$REGISTRY_PASS" | ferry_as_user login -u "$REGISTRY_USER" --password-stdin "$REGISTRY" 2>&1)
keep "$msg"
expect_eq "$msg" "Login Succeeded" "login"
expect_eq "$(stat -c '%a %u' "$auth")" "600 $TEST_UID" "auth.json mode and owner"
keep "$(ferry_as_user pull "$ref" 2>&1)"
pulled "after login"
msg=$(ferry_as_user logout "$REGISTRY" 2>&1)
keep "$msg"
expect_contains "$msg" "$REGISTRY" "logout"
expect_fail err pull -q "$ref"
expect_contains "$err" "authentication required" "after logout"
expect_fail err logout "$REGISTRY"
expect_contains "$err" "not logged in" "logout twice"

# FERRY_REGISTRY_USER and FERRY_REGISTRY_PASSWORD.
FERRY_ENV=(FERRY_REGISTRY_USER="$REGISTRY_USER" FERRY_REGISTRY_PASSWORD="$REGISTRY_PASS")
keep "$(ferry_as_user pull "$ref" 2>&1)"
pulled "environment"
FERRY_ENV=(FERRY_REGISTRY_USER="$REGISTRY_USER" FERRY_REGISTRY_PASSWORD="wrong-$REGISTRY_PASS")
expect_fail err pull -q "$ref"
keep "$err"
expect_contains "$err" "access denied" "environment, wrong password"
FERRY_ENV=()

# Docker's ~/.docker/config.json, as `docker login` writes it.
mkdir -p "$USER_HOME/.docker"
printf '{\n\t"auths": {\n\t\t"%s": {\n\t\t\t"auth": "%s"\n\t\t}\n\t}\n}\n' "$REGISTRY" "$basic" >"$USER_HOME/.docker/config.json"
[ "$(id -u)" != 0 ] || chown -R "$TEST_UID:$TEST_GID" "$USER_HOME/.docker"
keep "$(ferry_as_user pull "$ref" 2>&1)"
pulled "~/.docker/config.json"
rm -rf "$USER_HOME/.docker"

# --debug: every way in again, the output kept.
keep "$(ferry_as_user --debug pull --creds "$REGISTRY_USER:$REGISTRY_PASS" "$ref" 2>&1)"
rm -rf "$STORE" && user_dir "$STORE"
keep "$(ferry_as_user --debug pull --creds "$REGISTRY_USER:wrong-$REGISTRY_PASS" "$ref" 2>&1 || true)"
keep "$(printf '%s\n' "$REGISTRY_PASS" | ferry_as_user --debug login -u "$REGISTRY_USER" --password-stdin "$REGISTRY" 2>&1)"
keep "$(ferry_as_user --debug pull "$ref" 2>&1)"
rm -rf "$STORE" && user_dir "$STORE"
keep "$(ferry_as_user --debug logout "$REGISTRY" 2>&1)"
FERRY_ENV=(FERRY_REGISTRY_USER="$REGISTRY_USER" FERRY_REGISTRY_PASSWORD="$REGISTRY_PASS")
keep "$(ferry_as_user --debug pull "$ref" 2>&1)"
FERRY_ENV=()
grep -q "ferry: debug:" "$out" || fail "--debug printed no debug line (is the flag still --debug?)"
! grep -qF -- "$REGISTRY_PASS" "$out" || fail "the password appears in ferry's output: $(grep -F -- "$REGISTRY_PASS" "$out" | head -3)"
! grep -qF -- "$basic" "$out" || fail "the Basic credentials appear in ferry's output"
echo "PASS: $TEST_NAME"
