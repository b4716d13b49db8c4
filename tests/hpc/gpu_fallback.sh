# --gpus without a CDI spec: the NVIDIA driver found under [gpu] driver-root
# (a fake tree here: device nodes, a libcuda.so.1 built with gcc listed in
# the tree's own ld.so.cache, an nvidia-smi script) is injected. --gpus=all
# binds every GPU, --gpus=1 and CUDA_VISIBLE_DEVICES=1 only the second, and
# CUDA_VISIBLE_DEVICES inside counts from 0 over what the container sees.
. "$(dirname "$0")/gpu.bash"
. "$(dirname "$0")/../lib.sh"

command -v gcc >/dev/null || skip "gcc is not installed"
D=$T/driver
libdir=/usr/lib/$(gcc -print-multiarch)
gpu_nodes "$D" dev/nvidiactl dev/nvidia-uvm dev/nvidia0 dev/nvidia1
gpu_dev nvidiactl nvidia-uvm nvidia0 nvidia1
mkdir -p "$D$libdir" "$D/usr/bin" "$D/etc"
echo 'int cuDriverGetVersion(int *v) { *v = 12020; return 0; }' >"$T/cuda.c"
gcc -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$D$libdir/libcuda.so.535.1" "$T/cuda.c"
ln -s libcuda.so.535.1 "$D$libdir/libcuda.so.1"
echo 'int nvmlInit(void) { return 0; }' >"$T/nvml.c"
gcc -shared -fPIC -Wl,-soname,libnvidia-ml.so.1 -o "$D$libdir/libnvidia-ml.so.1" "$T/nvml.c"
echo "$libdir" >"$D/etc/ld.so.conf"
ldconfig -r "$D"
printf '#!/bin/sh\necho "fake nvidia-smi sees $CUDA_VISIBLE_DEVICES"\n' >"$D/usr/bin/nvidia-smi"
chmod -R a+rX "$D"
chmod 0755 "$D/usr/bin/nvidia-smi"

# A dynamically linked program that needs libcuda.so.1, with the host's
# loader and C library, in the busybox image.
cat >"$T/probe.c" <<'C'
#include <stdio.h>
int cuDriverGetVersion(int *v);
int main(void) { int v = 0; cuDriverGetVersion(&v); printf("cuda %d\n", v); return 0; }
C
gcc -o "$T/cudaprobe" "$T/probe.c" -L"$D$libdir" -l:libcuda.so.1
img=$T/img
make_busybox_image "$img"
cp "$T/cudaprobe" "$img/cudaprobe"
for lib in $(ldd "$T/cudaprobe" | awk '$1 !~ /libcuda/ && /\// {print ($3 ~ /^\//) ? $3 : $1}'); do
  mkdir -p "$img$(dirname "$lib")"
  cp -L "$lib" "$img$lib"
done
chmod -R a+rX "$img"

cfg=$T/cfg
mkdir -p "$cfg/ferry"
# No spec directory of the host's (/etc/cdi) may turn this into CDI.
mkdir -p "$T/no-cdi"
printf '[gpu]\ndriver-root = "%s"\n[cdi]\nspec-dirs = ["%s"]\n' "$D" "$T/no-cdi" >"$cfg/ferry/ferry.toml"
chmod -R a+rX "$cfg"
gpu_run() { as_user env XDG_CONFIG_HOME="$cfg" "$@"; }
nodes='for n in nvidiactl nvidia-uvm nvidia0 nvidia1; do test -c /dev/$n && printf "%s " $n; done; echo'
env_line='echo "$NVIDIA_VISIBLE_DEVICES $CUDA_VISIBLE_DEVICES"'

expect_eq "$(gpu_run "$FERRY" run --gpus=all "$img" sh -c "$nodes")" "nvidiactl nvidia-uvm nvidia0 nvidia1 " "all: nodes"
expect_eq "$(gpu_run "$FERRY" run --gpus=all "$img" sh -c "$env_line")" "0,1 0,1" "all: visible devices"
expect_eq "$(gpu_run "$FERRY" run --gpus=all "$img" /cudaprobe)" "cuda 12020" "all: libcuda loads"
expect_eq "$(gpu_run "$FERRY" run --gpus=all "$img" sh -c 'echo $LD_LIBRARY_PATH; ls /.ferry/nvidia/lib')" \
  "$(printf '/.ferry/nvidia/lib\nlibcuda.so.1\nlibnvidia-ml.so.1')" "all: driver libraries"
expect_eq "$(gpu_run "$FERRY" run --gpus=all "$img" nvidia-smi)" "fake nvidia-smi sees 0,1" "all: nvidia-smi"

# One GPU: only its node is bound, and CUDA numbers it 0.
expect_eq "$(gpu_run "$FERRY" run --gpus=1 "$img" sh -c "$nodes")" "nvidiactl nvidia-uvm nvidia1 " "1: nodes"
expect_eq "$(gpu_run "$FERRY" run --gpus=1 "$img" sh -c "$env_line")" "1 0" "1: visible devices"
# --gpus=all honours the caller's CUDA_VISIBLE_DEVICES (as Slurm sets it).
expect_eq "$(gpu_run CUDA_VISIBLE_DEVICES=1 "$FERRY" run --gpus=all "$img" sh -c "$nodes; $env_line")" \
  "nvidiactl nvidia-uvm nvidia1 
1 0" "CUDA_VISIBLE_DEVICES=1: nodes and visible devices"
expect_eq "$(gpu_run NVIDIA_VISIBLE_DEVICES=0 "$FERRY" run --gpus=all "$img" sh -c "$nodes")" \
  "nvidiactl nvidia-uvm nvidia0 " "NVIDIA_VISIBLE_DEVICES=0: nodes"
# The LD_LIBRARY_PATH the container would have had is kept behind the
# driver's directory; -e still has the last word.
expect_eq "$(gpu_run LD_LIBRARY_PATH=/keep "$FERRY" run --gpus=0 "$img" sh -c 'echo $LD_LIBRARY_PATH')" \
  "/.ferry/nvidia/lib:/keep" "LD_LIBRARY_PATH kept"
expect_eq "$(gpu_run "$FERRY" run --gpus=0 -e LD_LIBRARY_PATH=/mine "$img" sh -c 'echo $LD_LIBRARY_PATH')" "/mine" \
  "-e LD_LIBRARY_PATH wins"

err=$(gpu_run "$FERRY" run --gpus=2 "$img" true 2>&1) && fail "--gpus=2 succeeded"
expect_eq "$err" "ferry: run $img: --gpus: GPU 2: $D/dev/nvidia2 does not exist" "missing GPU message"
expect_status "$EXIT_FAILURE" gpu_run "$FERRY" run --gpus=2 "$img" true
err=$(gpu_run "$FERRY" run --gpus=zero "$img" true 2>&1) && fail "--gpus=zero succeeded"
expect_eq "$err" "ferry: run $img: --gpus 'zero': expected all, GPU indices (0,1) or GPU UUIDs" "bad --gpus message"

# No driver and no spec.
mkdir -p "$T/cfg2/ferry" "$T/empty"
printf '[gpu]\ndriver-root = "%s"\n[cdi]\nspec-dirs = ["%s"]\n' "$T/empty" "$T/no-cdi" >"$T/cfg2/ferry/ferry.toml"
chmod -R a+rX "$T/cfg2"
err=$(as_user env XDG_CONFIG_HOME="$T/cfg2" "$FERRY" run --cdi-spec-dir "$T/empty" --gpus=all "$img" true 2>&1) &&
  fail "--gpus without a driver succeeded"
expect_eq "$err" "ferry: run $img: --gpus: no CDI spec provides nvidia.com/gpu and no NVIDIA driver was found ($T/empty/dev/nvidiactl does not exist)" \
  "no driver message"
