# The plugin's options: --container-mounts (read-only too), --container-workdir,
# --container-env (the submit environment's value beats the image's),
# --container-writable, Shifter's --image=, and site mounts from
# plugstack.conf (mounts=).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/slurm.bash"
. "$(dirname "$0")/plugin.bash"

image_extra() { mkdir -p "$T/img/opt/app"; }
plugin_cluster "mounts=$T/site:/site:ro"
# The image's environment: FOO and BAR set by its config.
printf '{"config":{"Env":["PATH=/usr/bin:/bin","FOO=image","BAR=image"]}}' >"$T/img.sqfs.config.json"
chmod a+r "$T/img.sqfs.config.json"
mkdir -m 0777 "$T/data" "$T/site"
echo hello >"$T/data/in"
echo site >"$T/site/file"
run1() { slurm_as_user env FOO=submit BAR=submit srun -N1 -n1 "$@"; }

expect_eq "$(run1 --container-image="$T/img.sqfs" --container-mounts="$T/data:/data" cat /data/in)" hello "--container-mounts"
run1 --container-image="$T/img.sqfs" --container-mounts="$T/data:/data" sh -c 'echo out >/data/out'
expect_eq "$(cat "$T/data/out")" out "a rw mount is writable"
st=0
run1 --container-image="$T/img.sqfs" --container-mounts="$T/data:/data:ro" sh -c 'echo x >/data/ro' 2>/dev/null || st=$?
[ "$st" != 0 ] || fail "a :ro mount was writable"
[ ! -e "$T/data/ro" ] || fail "a :ro mount was written"
expect_eq "$(run1 --container-image="$T/img.sqfs" cat /site/file)" site "site mount from plugstack.conf"
expect_eq "$(run1 --container-image="$T/img.sqfs" --container-workdir=/opt/app pwd)" /opt/app "--container-workdir"
expect_eq "$(run1 --container-image="$T/img.sqfs" sh -c 'echo $FOO $BAR')" "image image" "the image's variables beat the submit environment's"
expect_eq "$(run1 --container-image="$T/img.sqfs" --container-env=FOO sh -c 'echo $FOO $BAR')" "submit image" "--container-env=FOO"
expect_eq "$(run1 --container-image="$T/img.sqfs" sh -c 'echo $SLURM_NTASKS $SLURM_JOB_ID' | wc -w)" 2 "Slurm's variables reach the task"
st=0
run1 --container-image="$T/img.sqfs" sh -c 'echo x >/new' 2>/dev/null || st=$?
[ "$st" != 0 ] || fail "the root was writable without --container-writable"
# (/ is the user's in a writable root; root-owned directories stay closed, as in ferry run)
expect_eq "$(run1 --container-image="$T/img.sqfs" --container-writable sh -c 'echo x >/new && cat /new')" x "--container-writable"
expect_eq "$(run1 --image="$T/img.sqfs" head -1 /etc/os-release)" 'NAME="ferry slurm image"' "Shifter's --image="
slurm_wait_no_jobs || fail "the jobs' processes did not end"
