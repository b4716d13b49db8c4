# Prelude of tests/hpc/cache_*.sh, sourced after tests/lib.sh:
#
#   cache_setup
#     share_setup (the test user's own XDG_RUNTIME_DIR $XDG and config $CFG),
#     then CDIR=$T/cache, a directory of the test user's, as the config's
#     [cache] dir.
cache_setup() {
  share_setup
  CDIR=$T/cache
  user_dir "$CDIR"
  printf '[cache]\ndir = "%s"\n' "$CDIR" >>"$CFG/ferry/ferry.toml"
}
