# Helpers for the host-MPI tests (tests/hpc/mpi_*.sh): an image made from
# the host's own files whose MPI library is a stub the test builds, so that
# output tells the image's MPI from the host's.
command -v mpicc >/dev/null || skip "mpicc (libmpich-dev) is not installed"
command -v mpiexec >/dev/null || skip "mpiexec (mpich) is not installed"
command -v ldconfig >/dev/null || skip "ldconfig is not installed"

MULTIARCH=$(gcc -print-multiarch)
HOST_MPICH=$(readlink -f "/usr/lib/$MULTIARCH/libmpich.so.12")
[ -f "$HOST_MPICH" ] || skip "the host has no libmpich.so.12"

# The ring program: every rank passes a token around the ring ROUNDS
# times, each adding its rank; every rank prints the checksum it saw, the
# first line of MPI_Get_library_version, and the /proc/self/maps line of
# the libmpich it runs on ("maps DEV INODE PATH").
write_ring_source() {
  cat >"$1" <<'SRC'
#include <mpi.h>
#include <stdio.h>
#include <string.h>
int main(int argc, char** argv) {
  int rank = 0, size = 1, len = 0;
  char version[MPI_MAX_LIBRARY_VERSION_STRING] = "";
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  MPI_Get_library_version(version, &len);
  version[strcspn(version, "\n")] = 0;
  printf("rank %d version %s\n", rank, version);
  FILE* maps = fopen("/proc/self/maps", "r");
  char line[4096];
  while (maps && fgets(line, sizeof line, maps))
    if (strstr(line, "libmpi")) {
      char dev[32], path[4000];
      unsigned long inode;
      if (sscanf(line, "%*s %*s %*s %31s %lu %3999s", dev, &inode, path) == 3) {
        printf("rank %d maps %s %lu %s\n", rank, dev, inode, path);
        break;
      }
    }
  long token = 0;
  int next = (rank + 1) % size, prev = (rank + size - 1) % size;
  for (int round = 0; round < 10 && size > 1; ++round) {
    if (rank == 0) {
      token += 1;
      if (MPI_Send(&token, 1, MPI_LONG, next, 0, MPI_COMM_WORLD) != MPI_SUCCESS ||
          MPI_Recv(&token, 1, MPI_LONG, prev, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE) != MPI_SUCCESS) {
        printf("rank %d communication failed\n", rank);
        return 3;
      }
    } else {
      if (MPI_Recv(&token, 1, MPI_LONG, prev, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE) != MPI_SUCCESS) {
        printf("rank %d communication failed\n", rank);
        return 3;
      }
      token += rank;
      MPI_Send(&token, 1, MPI_LONG, next, 0, MPI_COMM_WORLD);
    }
  }
  long sum = 0;
  MPI_Allreduce(&token, &sum, 1, MPI_LONG, MPI_SUM, MPI_COMM_WORLD);
  printf("rank %d checksum %ld\n", rank, sum);
  MPI_Finalize();
  return 0;
}
SRC
}

# The stub MPI the image ships: MPICH's soname and handles (plain ints in
# the MPICH ABI), a recognisable version, and no communication at all.
write_stub_source() {
  cat >"$1" <<'SRC'
#include <string.h>
typedef int MPI_Comm;
typedef int MPI_Datatype;
typedef int MPI_Op;
int MPI_Init(int* c, char*** v) { (void)c; (void)v; return 0; }
int MPI_Finalize(void) { return 0; }
int MPI_Comm_rank(MPI_Comm c, int* r) { (void)c; *r = 0; return 0; }
int MPI_Comm_size(MPI_Comm c, int* s) { (void)c; *s = 2; return 0; }
int MPI_Get_library_version(char* v, int* len) { strcpy(v, "FERRY-STUB-MPI 0.0"); *len = (int)strlen(v); return 0; }
int MPI_Send(const void* b, int n, MPI_Datatype t, int d, int tag, MPI_Comm c) { (void)b; (void)n; (void)t; (void)d; (void)tag; (void)c; return 15; }
int MPI_Recv(void* b, int n, MPI_Datatype t, int s, int tag, MPI_Comm c, void* st) { (void)b; (void)n; (void)t; (void)s; (void)tag; (void)c; (void)st; return 15; }
int MPI_Allreduce(const void* a, void* b, int n, MPI_Datatype t, MPI_Op o, MPI_Comm c) { (void)a; (void)b; (void)n; (void)t; (void)o; (void)c; return 15; }
SRC
}

# make_mpi_image DIR: busybox, the host's glibc, the ring program in /app,
# and the stub libmpich.so.12 in /opt/mpi/lib, which only the image's
# ld.so.cache names (ldconfig -r), so ferry must read that cache to find it.
make_mpi_image() {
  local root=$1 lib
  make_busybox_image "$root"
  mkdir -p "$root/lib/$MULTIARCH" "$root/lib64" "$root/opt/mpi/lib" "$root/etc"
  for lib in libc.so.6 libm.so.6 libpthread.so.0 libdl.so.2 librt.so.1 libresolv.so.2; do
    cp -L "/lib/$MULTIARCH/$lib" "$root/lib/$MULTIARCH/$lib"
  done
  cp -L /lib64/ld-linux-*.so.* "$root/lib64/" 2>/dev/null || cp -L "/lib/$MULTIARCH"/ld-linux-*.so.* "$root/lib64/"
  write_stub_source "$T/stub.c"
  gcc -shared -fPIC -O1 -Wl,-soname,libmpich.so.12 -o "$root/opt/mpi/lib/libmpich.so.12.0" "$T/stub.c"
  echo /opt/mpi/lib >"$root/etc/ld.so.conf"
  ldconfig -r "$root"
  [ -L "$root/opt/mpi/lib/libmpich.so.12" ] || fail "ldconfig -r made no libmpich.so.12 link in the image"
  write_ring_source "$T/ring.c"
  mpicc -O1 -o "$root/app" "$T/ring.c"
  chmod -R a+rX "$root"
}

# The host libmpich's device and inode as /proc/PID/maps prints them.
host_mpich_maps_id() {
  printf '%02x:%02x %s\n' "$(stat -L -c %Hd "$HOST_MPICH")" "$(stat -L -c %Ld "$HOST_MPICH")" "$(stat -L -c %i "$HOST_MPICH")"
}

# expect_host_mpi_ranks OUT WHAT: OUT (the ring program's output, 2 ranks)
# shows each rank with the right checksum, on the host's MPICH (its version,
# not the image's stub) mapped from the host's libmpich file at the image's
# own library path.
expect_host_mpi_ranks() {
  local out=$1 what=$2 r line maps dev inode path
  local want_id host_version
  want_id=$(host_mpich_maps_id)
  host_version=$(mpichversion 2>/dev/null | head -1 | awk '{print $NF}')
  for r in 0 1; do
    expect_contains "$out" "rank $r checksum 40" "$what rank $r checksum"
    line=$(grep "^rank $r version " <<<"$out") || fail "$what: rank $r printed no version: $out"
    case "$line" in *FERRY-STUB*) fail "$what: rank $r still runs the image's stub MPI: $line" ;; esac
    expect_contains "$line" "MPICH Version:" "$what rank $r library version"
    [ -z "$host_version" ] || expect_contains "$line" "$host_version" "$what rank $r library version"
    maps=$(grep "^rank $r maps " <<<"$out") || fail "$what: rank $r maps no libmpi: $out"
    read -r _ _ _ dev inode path <<<"$maps"
    expect_eq "$dev $inode" "$want_id" "$what rank $r libmpich device and inode ($path)"
    expect_eq "$path" "/opt/mpi/lib/libmpich.so.12.0" "$what rank $r libmpich path inside"
  done
}
