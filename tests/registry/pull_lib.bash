# Helpers for the pull tests (tests/registry/pull_*.sh, run_pull.sh), sourced
# after tests/lib.sh and tests/registry/registry.bash (not a test: the test
# glob takes *.sh only). ferry runs as the test user with a store, a config
# directory and a home of its own under $T, so parallel tests share nothing:
#
#   STORE       FERRY_STORE
#   USER_HOME   HOME (~/.docker/config.json lives there)
#   USER_CONFIG XDG_CONFIG_HOME: ferry.toml and auth.json under ferry/
#   FERRY_SITE_CONFIG points at a file that does not exist, so the host's
#   /etc/ferry/ferry.toml plays no part.

STORE=$T/store
USER_HOME=$T/home
USER_CONFIG=$T/config
user_dir "$STORE"
user_dir "$USER_HOME"
user_dir "$USER_CONFIG"
user_dir "$USER_CONFIG/ferry"

# ferry_as_user ARG...: ferry as the test user, in its own store and config.
# FERRY_ENV (an array of VAR=VALUE) adds to its environment.
FERRY_ENV=()
ferry_as_user() {
  as_user env FERRY_STORE="$STORE" HOME="$USER_HOME" XDG_CONFIG_HOME="$USER_CONFIG" \
    FERRY_SITE_CONFIG="$T/no-site.toml" "${FERRY_ENV[@]}" "$FERRY" "$@"
}

# user_config TEXT: the test user's ferry.toml (replaced).
user_config() {
  printf '%s\n' "$1" >"$USER_CONFIG/ferry/ferry.toml"
  [ "$(id -u)" != 0 ] || chown "$TEST_UID:$TEST_GID" "$USER_CONFIG/ferry/ferry.toml"
}

# expect_fail VAR ARG...: runs ferry ARG... as the user; it must fail with
# exit 125 and print exactly one line (stdout and stderr together), which
# goes into VAR.
expect_fail() {
  local -n _out=$1
  shift
  local rc=0
  _out=$(ferry_as_user "$@" 2>&1) || rc=$?
  [ "$rc" = "$EXIT_FAILURE" ] || fail "'ferry $*': exit status $rc, expected $EXIT_FAILURE; output: $_out"
  expect_one_line "$_out" "ferry $*"
}

# expect_one_line TEXT WHAT: TEXT is one line, starting "ferry: ".
expect_one_line() {
  [ -n "$1" ] || fail "$2: printed nothing"
  [ "$(printf '%s\n' "$1" | wc -l)" = 1 ] || fail "$2: expected one line, got: $1"
  case $1 in "ferry: "*) ;; *) fail "$2: expected a line starting 'ferry: ', got: $1" ;; esac
}

# store_state: what the store holds (images, blobs, names, temporary files),
# for a before/after comparison; the lock file and empty directories aside.
store_state() {
  (cd "$STORE" && find . -type f ! -name lock -printf '%p %s\n' | sort
    cat repositories.json 2>/dev/null || true)
}

# blob_gets LOG: the number of blob GETs in a docker-registry or proxy log.
blob_gets() {
  { grep -E '"GET /v2/[^ ]*/blobs/sha256:|^[0-9]+ GET /v2/[^ ]*/blobs/sha256:' "$1" || true; } | wc -l
}

# manifest_gets LOG: the number of manifest GETs in a docker-registry log.
manifest_gets() {
  { grep -E '"GET /v2/[^ ]*/manifests/' "$1" || true; } | wc -l
}
