# Slurm fixture: a private two-node Slurm 22.05 cluster on this one host, for
# tests of ferry under srun/sbatch and of its SPANK plugin. Sourced after
# tests/lib.sh (this file is not a test: the test glob takes *.sh only):
#
#   . "$(dirname "$0")/../lib.sh"
#   . "$(dirname "$0")/../slurm/slurm.bash"
#   slurm_start "required $PLUGIN key=value"   # lines for plugstack.conf
#   out=$(slurm_as_user srun -N2 -n4 hostname)
#
# Needs root (the daemons run as root, jobs as the test user) and Debian's
# slurmctld, slurmd, slurm-client and munge; skips without them.
#
# slurm_start [PLUGSTACK_LINE...]
#   Starts, all under $T/slurm and private to this test (two tests may run
#   clusters at once): munged on its own socket and key, slurmctld, and two
#   slurmd (-N n1, -N n2) on free loopback ports, then waits (30 s at most)
#   until both nodes are idle. Each argument is one line of the cluster's
#   plugstack.conf (none: an empty one). Takes about a second (a port taken
#   in between: it starts again on others, up to 5 times).
#   CLUSTER_PROCTRACK=proctrack/pgid slurm_start ... picks another
#   ProctrackType (default proctrack/linuxproc; see the pitfalls).
#   CLUSTER_GPU_FILES='/path/nvidia[0-1]' CLUSTER_GPUS=2 slurm_start ...
#   gives each node that many GPUs (GRES gpu, gres.conf File=, no
#   autodetection): device files the test made.
#   Call it directly, not in $(...) or a pipeline: the daemons are children
#   of the test's shell.
#   Exports SLURM_CONF (the cluster's slurm.conf): srun, sbatch, sinfo,
#   squeue, scontrol and scancel run as root by the test find the cluster.
#   It unsets SLURM_*, SBATCH_*, SRUN_*, SALLOC_*, SQUEUE_*, SINFO_* and
#   SCONTROL_* variables (a test suite run inside a Slurm job would otherwise
#   have srun join that job), and sets these shell variables:
#     CLUSTER_DIR    $T/slurm: slurm.conf, plugstack.conf, state/, spool/NODE/,
#                    log/, munge/
#     CLUSTER_NAME   the ClusterName, unique per start (ft + 8 hex digits);
#                    slurmstepd gives it to every task as SLURM_CLUSTER_NAME
#     CLUSTER_NODES  "n1 n2"
#     CLUSTER_WORK   $T/slurm/work, owned by the test user: slurm_as_user's
#                    working directory (so a job's) unless AS_USER_CWD is set
#     CLUSTER_PLUGSTACK  the plugstack.conf
#     CLUSTER_MUNGE_SOCKET  munged's socket
#     CLUSTER_CTLD_PORT, CLUSTER_PORT_n1, CLUSTER_PORT_n2  the ports
#     CLUSTER_CTLD_PID, CLUSTER_SLURMD_PID_n1, ..._n2, CLUSTER_MUNGED_PID
#   Logs: $CLUSTER_DIR/log/slurmctld.log, slurmd.n1.log, slurmd.n2.log (the
#   daemons' own log files: a job step's slurmstepd logs into its node's
#   slurmd log), *.out (a daemon's stdout and stderr: the same, and what it
#   printed before it could log, such as a bad slurm.conf), munged.log.
#   slurm_logs prints their tails.
# slurm_stop: cancels what is still queued or running and waits (5 s at
#   most) for it to end, stops the daemons by pid (TERM, KILL after 3 s),
#   kills any slurmstepd (found by its working directory, slurmd's:
#   $CLUSTER_DIR/run) or task (see slurm_job_pids) left behind, then
#   munged. Runs at exit too, before tests/lib.sh removes $T (at_exit).
#   slurm_start may be called again
#   after it.
# slurm_as_user CMD...: CMD as the test user (lib.sh's as_user) with
#   SLURM_CONF set, from $CLUSTER_WORK unless AS_USER_CWD says otherwise.
# slurm_job_pids: the pids of live processes of this cluster's jobs (tasks,
#   batch scripts, whatever they started), whoever they run as: those with
#   SLURM_CLUSTER_NAME=$CLUSTER_NAME in their environment, which
#   slurmstepd sets for every task even with --export=NONE. A test checks
#   that none remain after its jobs end.
# slurm_wait_no_jobs [TENTHS]: waits (default 10 s) until squeue lists no job
#   and no process of a job (slurm_job_pids) or slurmstepd of this cluster
#   is left; false, with what remains on stderr, if not.
# slurm_logs [LINES]: prints the last LINES (default 30) of each log.
#
# What makes two slurmd work on one host: Debian builds Slurm with
# --enable-multiple-slurmd (scontrol show config: MULTIPLE_SLURMD = Yes), so
# two NodeName lines may share NodeHostname (this host's name); each has its
# own Port, NodeAddr=127.0.0.1, and each slurmd is started with -N NODE.
# Everything a slurmd keeps per node is named with %n (SlurmdSpoolDir,
# whose directory must exist before slurmd starts, SlurmdPidFile,
# SlurmdLogFile). No cgroup set-up: proctrack/linuxproc, task/none,
# jobacct_gather/none.
# Pitfalls:
# - munged runs as root here, with --force; its key must be owned by the
#   user munged runs as and be 0400/0600. The test user only needs to reach
#   the socket (0777) through 0755 directories. srun and the daemons find it
#   through AuthInfo=socket=... (cred/munge, which signs job credentials,
#   reads the same setting). munged.log's "Unauthorized credential for
#   client UID=0" lines are normal.
# - A job's working directory must exist and be usable by its user on the
#   node: slurmd changes into it as the user, or the job fails (sbatch -o
#   files are written there too).
# - sbatch --wait polls: after 2 s, then every 2 s only if MinJobAge is
#   4 s or less (with the default, 300, it waits 2 s, 8 s, 32 s...). So
#   MinJobAge=4 here: a finished job leaves squeue and scontrol show job
#   4 s (or, as slurmctld purges in batches, somewhat more) after it ends.
# - A batch job submitted in the first 3 s after slurm_start waits for the
#   controller's first scheduling pass (srun allocations do not wait).
# - KillWait=2: a cancelled job's processes get TERM, then KILL 2 s later.
# - proctrack/linuxproc ends a step's processes by walking down from its
#   tasks: a process whose parent exited (sh -c 'sleep 9 &') is reparented
#   to init and survives the step (slurm_job_pids still finds it by its
#   environment; slurm_stop kills it). proctrack/pgid would kill it with the
#   task's process group, but waits until the group is gone, zombies
#   included, and init reaps those lazily here (about 1 s; under a PID 1 that
#   never reaps, as in a container without an init, a step would hang for a
#   minute): each such step ends 3 s late.

[ -z "${_slurm_sourced:-}" ] || return 0
_slurm_sourced=1

CLUSTER_DIR='' CLUSTER_NAME='' CLUSTER_NODES='n1 n2' CLUSTER_WORK='' CLUSTER_PLUGSTACK=''
CLUSTER_MUNGE_SOCKET='' CLUSTER_CTLD_PORT='' CLUSTER_PORT_n1='' CLUSTER_PORT_n2=''
CLUSTER_CTLD_PID='' CLUSTER_SLURMD_PID_n1='' CLUSTER_SLURMD_PID_n2='' CLUSTER_MUNGED_PID=''
_slurm_daemons=()  # slurmctld and slurmd pids
_slurm_munged=''

# Stop the cluster before tests/lib.sh removes $T.
at_exit slurm_stop

# _slurm_env CMD...: a Slurm command as root against this cluster, with a
# clean environment and a time limit.
_slurm_env() {
  env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin SLURM_CONF="$CLUSTER_DIR/slurm.conf" timeout 20 "$@"
}

# _slurm_spawn PIDVAR LOG CMD...: starts a daemon in the background with a
# clean environment, from $CLUSTER_DIR/run (slurmstepd inherits slurmd's
# working directory: _slurm_stepd_pids finds them by it), killed if this
# shell dies without cleaning up.
_slurm_spawn() {
  local -n _pid=$1
  local log=$2 pds=()
  shift 2
  if setpriv --help 2>/dev/null | grep -q pdeathsig; then pds=(setpriv --pdeathsig KILL --); fi
  (cd "$CLUSTER_DIR/run" && exec "${pds[@]}" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin "$@") \
    </dev/null >>"$log" 2>&1 &
  _pid=$!
}

_slurm_alive() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [ "${stat%% *}" != Z ]
}

# _slurm_kill PID...: TERM, then KILL after 3 s; reaps the shell's children.
_slurm_kill() {
  local p left
  [ $# -gt 0 ] || return 0
  for p in "$@"; do kill -TERM "$p" 2>/dev/null || true; done
  for _ in $(seq 60); do
    left=0
    for p in "$@"; do if _slurm_alive "$p"; then left=1; fi; done
    [ $left = 1 ] || break
    sleep 0.05
  done
  for p in "$@"; do
    kill -KILL "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  return 0
}

# _slurm_env_pids NAME=VALUE...: pids of processes whose environment holds
# one of the entries exactly (this shell and its subshells aside).
_slurm_env_pids() {
  local f p e=() files
  for f in "$@"; do e+=(-e "$f"); done
  mapfile -t files < <(grep -lzxF "${e[@]}" /proc/[0-9]*/environ 2>/dev/null || true)
  for f in "${files[@]}"; do
    p=${f#/proc/}
    p=${p%/environ}
    if [ "$p" != $$ ] && [ "$p" != "$BASHPID" ] && _slurm_alive "$p"; then echo "$p"; fi
  done
  return 0
}

# _slurm_stepd_pids: this cluster's slurmstepd processes, by their working
# directory (slurmd's) or an open file (slurmd's log) in $CLUSTER_DIR: their
# environment cannot tell, slurmstepd writes its title over it.
_slurm_stepd_pids() {
  local d c f l
  [ -n "$CLUSTER_DIR" ] || return 0
  for d in /proc/[0-9]*; do
    read -r c 2>/dev/null <"$d/comm" || continue
    [ "$c" = slurmstepd ] || continue
    for f in "$d/cwd" "$d"/fd/*; do
      l=$(readlink "$f" 2>/dev/null) || continue
      case $l in "$CLUSTER_DIR"/*)
        _slurm_alive "${d#/proc/}" && echo "${d#/proc/}"
        break ;;
      esac
    done
  done
  return 0
}

slurm_job_pids() {
  [ -n "$CLUSTER_NAME" ] || return 0
  _slurm_env_pids "SLURM_CLUSTER_NAME=$CLUSTER_NAME"
}

slurm_logs() {
  local f
  [ -n "$CLUSTER_DIR" ] || return 0
  for f in "$CLUSTER_DIR"/log/*; do
    [ -s "$f" ] || continue
    # A daemon's .out copies its .log (-D); it matters when the .log is empty.
    case $f in *.out) [ ! -s "${f%.out}.log" ] || continue ;; esac
    echo "--- $f" >&2
    tail -n "${1:-30}" "$f" >&2
  done
  return 0
}

slurm_wait_no_jobs() { _slurm_wait_quiet "${1:-100}" all; }

# _slurm_wait_quiet TENTHS all|stepd: waits until squeue lists no job, no
# slurmstepd of this cluster is left and (all) no process of a job either.
_slurm_wait_quiet() {
  local end q procs p
  end=$(( ${EPOCHREALTIME/./} + $1 * 100000 ))
  while :; do
    q=$(_slurm_env squeue -h -o '%i %T' 2>/dev/null) || q='(squeue failed)'
    procs=$(_slurm_stepd_pids; [ "$2" != all ] || slurm_job_pids)
    [ -n "$q$procs" ] || return 0
    [ "${EPOCHREALTIME/./}" -lt "$end" ] || break
    sleep 0.1
  done
  echo "slurm_wait_no_jobs: jobs: ${q:-none}; processes:" >&2
  for p in $procs; do ps -o pid=,user=,args= -p "$p" >&2 || true; done
  return 1
}

slurm_as_user() {
  [ -n "$CLUSTER_DIR" ] || fail "slurm_as_user: no cluster (slurm_start first)"
  AS_USER_CWD=${AS_USER_CWD:-$CLUSTER_WORK} as_user env SLURM_CONF="$CLUSTER_DIR/slurm.conf" "$@"
}

# _slurm_conf: writes slurm.conf for the ports in CLUSTER_*PORT*.
_slurm_conf() {
  local d=$CLUSTER_DIR host
  host=$(hostname)
  local gres=''
  if [ -n "${CLUSTER_GPUS:-}" ]; then
    gres=" Gres=gpu:$CLUSTER_GPUS"
    printf 'AutoDetect=off\nName=gpu File=%s\n' "$CLUSTER_GPU_FILES" >"$d/gres.conf"
    chmod 0644 "$d/gres.conf"
  fi
  cat >"$d/slurm.conf" <<EOF
# Written by tests/slurm/slurm.bash for $TEST_NAME.
${gres:+GresTypes=gpu}
ClusterName=$CLUSTER_NAME
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$CLUSTER_CTLD_PORT
AuthType=auth/munge
AuthInfo=socket=$CLUSTER_MUNGE_SOCKET
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$d/state
SlurmdSpoolDir=$d/spool/%n
SlurmctldPidFile=$d/run/slurmctld.pid
SlurmdPidFile=$d/run/slurmd.%n.pid
SlurmctldLogFile=$d/log/slurmctld.log
SlurmdLogFile=$d/log/slurmd.%n.log
SlurmctldDebug=info
SlurmdDebug=info
PlugStackConfig=$CLUSTER_PLUGSTACK
ProctrackType=${CLUSTER_PROCTRACK:-proctrack/linuxproc}
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SwitchType=switch/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/builtin
SchedulerParameters=batch_sched_delay=0
ReturnToService=2
KillWait=2
MinJobAge=4
InactiveLimit=0
NodeName=n1 NodeHostname=$host NodeAddr=127.0.0.1 Port=$CLUSTER_PORT_n1 CPUs=2$gres State=UNKNOWN
NodeName=n2 NodeHostname=$host NodeAddr=127.0.0.1 Port=$CLUSTER_PORT_n2 CPUs=2$gres State=UNKNOWN
PartitionName=debug Nodes=n1,n2 Default=YES MaxTime=INFINITE State=UP
EOF
  chmod 0644 "$d/slurm.conf"
}

# _slurm_daemons_alive: all of slurmctld and the slurmds are running.
_slurm_daemons_alive() {
  local p
  for p in "${_slurm_daemons[@]}"; do _slurm_alive "$p" || return 1; done
}

# _slurm_try_start: starts slurmctld and the slurmds on new ports and waits
# for idle nodes. 0: up; 1: a port was taken (try again); fails otherwise.
_slurm_try_start() {
  local d=$CLUSTER_DIR ports n c states
  mapfile -t ports < <(free_port 3)
  CLUSTER_CTLD_PORT=${ports[0]} CLUSTER_PORT_n1=${ports[1]} CLUSTER_PORT_n2=${ports[2]}
  _slurm_conf
  rm -rf "${d:?}"/state/* "$d"/spool/n1/* "$d"/spool/n2/* "$d"/run/* "$d"/log/slurm*

  _slurm_spawn CLUSTER_CTLD_PID "$d/log/slurmctld.out" slurmctld -D -c -f "$d/slurm.conf"
  _slurm_daemons=("$CLUSTER_CTLD_PID")
  # The controller first: a slurmd that cannot register waits before it tries again.
  for _ in $(seq 100); do
    _slurm_daemons_alive || break
    # (2 s: a port taken by something else may accept and never answer.)
    env -i PATH=/usr/bin:/bin SLURM_CONF="$d/slurm.conf" timeout 2 scontrol ping 2>/dev/null | grep -q 'is UP' && break
    sleep 0.1
  done
  if _slurm_daemons_alive; then
    for n in $CLUSTER_NODES; do
      _slurm_spawn "CLUSTER_SLURMD_PID_$n" "$d/log/slurmd.$n.out" slurmd -D -N "$n" -f "$d/slurm.conf"
      c=CLUSTER_SLURMD_PID_$n
      _slurm_daemons+=("${!c}")
    done
  fi
  for _ in $(seq 300); do
    _slurm_daemons_alive || break
    states=$(_slurm_env sinfo -h -N -o '%N %T' 2>/dev/null | sort -u | tr '\n' ' ') || true
    [ "$states" != "n1 idle n2 idle " ] || return 0
    sleep 0.1
  done
  local dead=
  _slurm_daemons_alive || dead=1
  _slurm_kill "${_slurm_daemons[@]}"
  _slurm_daemons=()
  if [ -n "$dead" ] && grep -qi "address already in use" "$d"/log/slurm* 2>/dev/null; then
    return 1
  fi
  slurm_logs 30
  [ -n "$dead" ] && fail "slurm_start: a Slurm daemon exited at start (logs above)"
  fail "slurm_start: the nodes are not idle after 30 s (sinfo: ${states:-nothing}; logs above)"
}

slurm_start() {
  [ "$(id -u)" = 0 ] || skip "the Slurm fixture needs root (its daemons run as root)"
  local c
  for c in slurmctld slurmd munged srun sbatch sinfo squeue scontrol scancel; do
    command -v "$c" >/dev/null || skip "$c is not installed (Debian: slurmctld, slurmd, slurm-client, munge)"
  done
  [ -z "$CLUSTER_DIR" ] || fail "slurm_start: a cluster is running already (slurm_stop first)"

  # Variables that would point srun, sbatch and the rest elsewhere.
  for c in $(compgen -e); do
    case $c in SLURM_* | SBATCH_* | SRUN_* | SALLOC_* | SQUEUE_* | SINFO_* | SCONTROL_*) unset "$c" ;; esac
  done

  CLUSTER_DIR=$T/slurm
  CLUSTER_NAME=ft$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
  CLUSTER_WORK=$CLUSTER_DIR/work
  CLUSTER_PLUGSTACK=$CLUSTER_DIR/plugstack.conf
  CLUSTER_MUNGE_SOCKET=$CLUSTER_DIR/munge/munge.socket
  local d=$CLUSTER_DIR
  rm -rf "$d"
  mkdir -p "$d"/{munge,state,spool/n1,spool/n2,log,run}
  chmod 0755 "$d" "$d"/*
  user_dir "$CLUSTER_WORK"
  if [ $# -gt 0 ]; then printf '%s\n' "$@" >"$CLUSTER_PLUGSTACK"; else : >"$CLUSTER_PLUGSTACK"; fi
  chmod 0644 "$CLUSTER_PLUGSTACK"

  # munged: as root (--force), its key owned by root and 0400.
  local key=$d/munge/munge.key
  (umask 077; dd if=/dev/urandom of="$key" bs=1024 count=1 status=none)
  chmod 0400 "$key"
  _slurm_spawn CLUSTER_MUNGED_PID "$d/log/munged.log" munged --foreground --force \
    --socket="$CLUSTER_MUNGE_SOCKET" --pid-file="$d/munge/munged.pid" --key-file="$key" \
    --log-file="$d/log/munged.log" --seed-file="$d/munge/munged.seed" --num-threads=4
  _slurm_munged=$CLUSTER_MUNGED_PID
  for _ in $(seq 100); do
    _slurm_alive "$_slurm_munged" || break
    munge -n -S "$CLUSTER_MUNGE_SOCKET" 2>/dev/null | unmunge -S "$CLUSTER_MUNGE_SOCKET" >/dev/null 2>&1 && break
    sleep 0.05
  done
  if ! munge -n -S "$CLUSTER_MUNGE_SOCKET" 2>/dev/null | unmunge -S "$CLUSTER_MUNGE_SOCKET" >/dev/null 2>&1; then
    slurm_logs 30
    fail "slurm_start: munged is not answering on $CLUSTER_MUNGE_SOCKET (log above)"
  fi

  local rc
  for _ in 1 2 3 4 5; do
    rc=0
    _slurm_try_start || rc=$?
    [ $rc = 0 ] && break
  done
  [ $rc = 0 ] || fail "slurm_start: found no free ports in 5 tries"
  export SLURM_CONF=$d/slurm.conf
}

slurm_stop() {
  [ -n "$CLUSTER_DIR" ] || return 0
  local p q
  # Cancel what is left while slurmd can still end it properly.
  if [ ${#_slurm_daemons[@]} -gt 0 ] && _slurm_daemons_alive; then
    q=$(_slurm_env squeue -h -o %i 2>/dev/null) || q=
    # shellcheck disable=SC2086
    [ -z "$q" ] || _slurm_env scancel $q 2>/dev/null || true
    _slurm_wait_quiet 50 stepd 2>/dev/null || true
  fi
  _slurm_kill "${_slurm_daemons[@]}"
  _slurm_daemons=()
  # slurmstepd (it double-forks: not slurmd's child) and tasks left behind.
  # A slurmstepd that outlives slurmd retries its step-complete message for
  # minutes: KILL, no TERM first.
  mapfile -t p < <(_slurm_stepd_pids; slurm_job_pids)
  if [ ${#p[@]} -gt 0 ]; then
    kill -KILL "${p[@]}" 2>/dev/null || true
    for q in "${p[@]}"; do wait_gone "$q" 20 || true; done
  fi
  [ -z "$_slurm_munged" ] || _slurm_kill "$_slurm_munged"
  _slurm_munged=''
  CLUSTER_DIR='' CLUSTER_CTLD_PID='' CLUSTER_SLURMD_PID_n1='' CLUSTER_SLURMD_PID_n2='' CLUSTER_MUNGED_PID=''
  unset SLURM_CONF
  return 0
}
