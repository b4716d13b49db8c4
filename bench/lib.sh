# Shared helpers for the benchmarks (sourced, not run).
# Everything here runs as root: it installs packages, creates the
# unprivileged benchmark user and compiles the C helpers.

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$BENCH_DIR/.." && pwd)
BENCH_CACHE=${BENCH_CACHE:-/var/tmp/ferry-bench}
BENCH_USER=${BENCH_USER:-ferry-bench}
FERRY=${FERRY:-}
FERRY_BIN=  # set by ensure_ferry: the copy of ferry the benchmarks run
export FERRY_BIN

say() { printf '%s\n' "$*" >&2; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

require_root() {
  [ "$(id -u)" = 0 ] || die "run as root (it installs packages, creates the user '$BENCH_USER' and, for cold runs, drops caches); the measured commands run as '$BENCH_USER'"
}

# apt-get install the packages not yet installed (quietly).
ensure_packages() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

# The unprivileged user every measured command runs as.
ensure_user() {
  if ! id "$BENCH_USER" >/dev/null 2>&1; then
    say "creating unprivileged user $BENCH_USER"
    useradd -m -s /bin/sh "$BENCH_USER"
  fi
  BENCH_UID=$(id -u "$BENCH_USER")
  BENCH_GID=$(id -g "$BENCH_USER")
  BENCH_HOME=$(getent passwd "$BENCH_USER" | cut -d: -f6)
  [ -d "$BENCH_HOME" ] || { mkdir -p "$BENCH_HOME"; chown "$BENCH_UID:$BENCH_GID" "$BENCH_HOME"; }
  local max
  max=$(cat /proc/sys/user/max_user_namespaces 2>/dev/null || echo 1)
  [ "$max" -gt 0 ] || die "user namespaces are disabled (user.max_user_namespaces=0)"
}

# Extra VAR=value entries for the benchmark user's environment (set by
# ferry_bench_config: XDG_CONFIG_HOME).
BENCH_ENV=()

# Runs "$@" as the benchmark user, with a clean login-like environment, from
# its home directory (ferry binds $HOME and the cwd: both are the same path).
as_user() {
  (cd "$BENCH_HOME" && env -i HOME="$BENCH_HOME" USER="$BENCH_USER" LOGNAME="$BENCH_USER" \
      PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8 ${BENCH_ENV[@]+"${BENCH_ENV[@]}"} \
      setpriv --reuid "$BENCH_UID" --regid "$BENCH_GID" --init-groups "$@")
}

# Same environment, but the caller stays root (for timeit --runas USER,
# which drops privileges in each child and can drop caches between runs).
as_root_with_user_env() {
  (cd "$BENCH_HOME" && env -i HOME="$BENCH_HOME" USER="$BENCH_USER" LOGNAME="$BENCH_USER" \
      PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8 ${BENCH_ENV[@]+"${BENCH_ENV[@]}"} "$@")
}

# --- ferry's shared mount holders ---------------------------------------------
# `ferry run IMG.sqfs` joins (or starts) the user's mount holder of IMG; it
# lingers [mounts] grace seconds once idle. The benchmarks give the user a
# config of their own (XDG_CONFIG_HOME under $BENCH_CACHE) with a grace of
# BENCH_GRACE seconds, so that a holder started before timing outlives the
# timing, and end the user's idle holders before and after (end_holders).
BENCH_GRACE=${BENCH_GRACE:-600}
ferry_bench_config() {
  local dir="$BENCH_CACHE/xdg-config"
  mkdir -p "$dir/ferry"
  printf '# written by bench/lib.sh: holders outlive a benchmark run\n[mounts]\ngrace = %s\n' \
    "$BENCH_GRACE" >"$dir/ferry/ferry.toml"
  chmod 0755 "$dir" "$dir/ferry"
  chmod 0644 "$dir/ferry/ferry.toml"
  BENCH_ENV=(XDG_CONFIG_HOME="$dir")
}

# Ends the benchmark user's idle holders (`ferry umount --all`), quietly.
end_holders() {
  if [ -n "$FERRY_BIN" ]; then as_user "$FERRY_BIN" umount --all </dev/null >/dev/null 2>&1 || true; fi
}

# `ferry mounts --format json` of the benchmark user, digested:
#   holders_info describe      one line per holder: pid, containers, FUSE
#                              requests, grace, the holder's peak and current RSS
#   holders_info pid IMG.sqfs  the pid of the holder of IMG (empty: none)
holders_info() {
  as_user "$FERRY_BIN" mounts --format json 2>/dev/null | python3 -c '
import json, os, sys
try:
    hs = json.load(sys.stdin)
except ValueError:
    hs = []
hs = [{k.lower(): v for k, v in h.items()} for h in hs if isinstance(h, dict)]
if sys.argv[1] == "pid":
    want = os.path.realpath(sys.argv[2])
    print(next((h["pid"] for h in hs if os.path.realpath(h.get("path", "")) == want), ""))
    sys.exit(0)
for h in hs:
    rss = {}
    try:
        for line in open("/proc/%d/status" % h.get("pid", 0)):
            k, _, v = line.partition(":")
            if k in ("VmHWM", "VmRSS"):
                rss[k] = int(v.split()[0])
    except OSError:
        pass
    print("holder pid %s: %s containers, %s FUSE requests served, grace %s s, peak RSS %.1f MiB, RSS now %.1f MiB (%s)" % (
        h.get("pid"), h.get("containers"), h.get("requests"), h.get("grace"),
        rss.get("VmHWM", 0) / 1024, rss.get("VmRSS", 0) / 1024, h.get("path")))
if not hs:
    print("(no mount holder)")
' "$@"
}

# --- memory cgroups (bench/launch --concurrent) --------------------------------
# A fresh memory cgroup $1 (cgroup v2 under the root, else v1 under this
# process's memory cgroup): prints its directory, or nothing when none can be
# made. Remove it with memcg_remove once its processes are gone.
memcg_make() {
  local base=
  if grep -qw memory /sys/fs/cgroup/cgroup.subtree_control 2>/dev/null; then
    base=/sys/fs/cgroup
  elif [ -d /sys/fs/cgroup/memory ]; then
    base=/sys/fs/cgroup/memory$(awk -F: '$2 == "memory" { print $3; exit }' /proc/self/cgroup)
  fi
  [ -n "$base" ] && [ -d "$base" ] || return 0
  local dir="${base%/}/$1"
  [ -d "$dir" ] && rmdir "$dir" 2>/dev/null
  mkdir "$dir" 2>/dev/null && printf '%s\n' "$dir"
  return 0
}
memcg_remove() { [ -z "$1" ] || rmdir "$1" 2>/dev/null || true; }

# Compiles bench/NAME.c into $BENCH_CACHE/bin/NAME (when the source is newer).
build_helper() {
  local name=$1 out="$BENCH_CACHE/bin/$1"
  mkdir -p "$BENCH_CACHE/bin"
  if [ ! -x "$out" ] || [ "$BENCH_DIR/$name.c" -nt "$out" ]; then
    cc -O2 -Wall -Wextra -o "$out" "$BENCH_DIR/$name.c"
  fi
  chmod 0755 "$BENCH_CACHE/bin" "$out"
  printf '%s\n' "$out"
}

# ferry: $FERRY if set, else build the repository into $BENCH_CACHE/build.
# The binary is copied to $BENCH_CACHE/bin so that the benchmark user can
# run it whatever the permissions of the build tree.
ensure_ferry() {
  local src
  if [ -n "$FERRY" ]; then
    src=$FERRY
  else
    local deps
    mapfile -t deps < <(grep -v '^#' "$REPO_DIR/tools/deps.txt" | grep -v '^$')
    ensure_packages "${deps[@]}"
    say "building ferry (Release) in $BENCH_CACHE/build"
    cmake -S "$REPO_DIR" -B "$BENCH_CACHE/build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DFERRY_TESTS=OFF >/dev/null ||
      die "cmake configure failed (set FERRY=/path/to/ferry to use a build of your own)"
    cmake --build "$BENCH_CACHE/build" >/dev/null || die "ferry build failed (set FERRY=/path/to/ferry to use a build of your own)"
    src="$BENCH_CACHE/build/ferry"
  fi
  [ -x "$src" ] || die "no ferry binary at $src"
  mkdir -p "$BENCH_CACHE/bin"
  install -m 0755 "$src" "$BENCH_CACHE/bin/ferry"
  FERRY_BIN="$BENCH_CACHE/bin/ferry"
}

# /dev/fuse must be usable by the benchmark user for SquashFS images. Debian
# ships it 0600; HPC sites set 0666. We do the same for the run and put the
# old mode back on exit.
FUSE_OLD_MODE=
ensure_fuse() {
  [ -e /dev/fuse ] || die "/dev/fuse is missing (modprobe fuse)"
  local mode
  mode=$(stat -c %a /dev/fuse)
  if [ "$mode" != 666 ]; then
    say "note: /dev/fuse is mode $mode; setting it to 0666 for this run, as HPC sites do (restored at exit)"
    FUSE_OLD_MODE=$mode
    chmod 0666 /dev/fuse
  fi
}
restore_fuse() {
  if [ -n "$FUSE_OLD_MODE" ]; then chmod "$FUSE_OLD_MODE" /dev/fuse; fi
}

# Makes every path component from / to $1 traversable by the benchmark user.
make_reachable() {
  local p=$1
  while [ "$p" != / ] && [ -n "$p" ]; do
    chmod o+x "$p" 2>/dev/null || true
    p=$(dirname "$p")
  done
}

# Formats timeit's TSV (stdin) as a table.
#   $1: label of the reference for the "x ref1" column (e.g. the floor)
#   $2: header of that column
#   $3: "label=ref,label=ref,..." for a second ratio column, or ""
#   $4: header of that column
fmt_table() {
  awk -F'\t' -v ref1="$1" -v h1="$2" -v refmap="$3" -v h2="$4" '
    { label[NR] = $1; n[NR] = $2; med[NR] = $3; p10[NR] = $4; p90[NR] = $5; rss[NR] = $9; by[$1] = $3; rows = NR }
    END {
      m = split(refmap, pairs, ",")
      for (i = 1; i <= m; i++) { split(pairs[i], kv, "="); ref2[kv[1]] = kv[2] }
      w = 10
      for (i = 1; i <= rows; i++) if (length(label[i]) > w) w = length(label[i])
      hdr = sprintf("%-" w "s %5s %10s %10s %10s %9s %9s", "command", "n", "median ms", "p10 ms", "p90 ms", h1, "+ms")
      if (h2 != "") hdr = hdr sprintf(" %12s", h2)
      hdr = hdr sprintf(" %9s", "peak RSS")
      print hdr
      gsub(/./, "-", hdr); print hdr
      for (i = 1; i <= rows; i++) {
        r1 = (ref1 in by && by[ref1] > 0) ? sprintf("%8.2fx", med[i] / by[ref1]) : "-"
        d1 = (ref1 in by) ? sprintf("%+9.3f", med[i] - by[ref1]) : "-"
        line = sprintf("%-" w "s %5d %10.3f %10.3f %10.3f %9s %9s", label[i], n[i], med[i], p10[i], p90[i], r1, d1)
        if (h2 != "") {
          r2 = "-"
          if ((label[i] in ref2) && (ref2[label[i]] in by) && by[ref2[label[i]]] > 0)
            r2 = sprintf("%11.2fx", med[i] / by[ref2[label[i]]])
          line = line sprintf(" %12s", r2)
        }
        line = line sprintf(" %7.1f MiB", rss[i] / 1024)
        print line
      }
    }'
}

# Prints the median of label $2 from timeit TSV file $1.
median_of() { awk -F'\t' -v l="$2" '$1 == l { print $3 }' "$1"; }

# Machine description for the report header.
print_machine() {
  printf 'machine : %s, %s CPUs, kernel %s\n' \
    "$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)" "$(nproc)" "$(uname -r)"
  printf 'date    : %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  printf 'user    : measured commands run as %s (uid %s), unprivileged\n' "$BENCH_USER" "$BENCH_UID"
  print_load "load    :"
}

# The load average, with a warning when other work competes for the CPUs.
print_load() {
  local l1 rest
  read -r l1 rest </proc/loadavg
  printf '%s %s' "$1" "$l1 ${rest%% *}"
  awk -v l="$l1" -v n="$(nproc)" 'BEGIN { if (l > n / 2) printf "  (busy machine: other work competes for the %d CPUs; trust the ratios more than the ms)", n }'
  printf '\n'
}
