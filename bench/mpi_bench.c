/* bench/mpi: ping-pong latency and bandwidth between ranks 0 and 1, and
 * MPI_Allreduce latency, timed inside the program (MPI_Wtime) so that a
 * container's start-up is not counted. Prints "NAME VALUE UNIT" lines from
 * rank 0. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static double pingpong(int rank, char* buf, int bytes, int iters) {
  MPI_Barrier(MPI_COMM_WORLD);
  double t0 = MPI_Wtime();
  for (int i = 0; i < iters; ++i) {
    if (rank == 0) {
      MPI_Send(buf, bytes, MPI_CHAR, 1, 0, MPI_COMM_WORLD);
      MPI_Recv(buf, bytes, MPI_CHAR, 1, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    } else if (rank == 1) {
      MPI_Recv(buf, bytes, MPI_CHAR, 0, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      MPI_Send(buf, bytes, MPI_CHAR, 0, 0, MPI_COMM_WORLD);
    }
  }
  return (MPI_Wtime() - t0) / iters / 2;  /* one way */
}

static double allreduce(double* in, double* out, int n, int iters) {
  MPI_Barrier(MPI_COMM_WORLD);
  double t0 = MPI_Wtime();
  for (int i = 0; i < iters; ++i) MPI_Allreduce(in, out, n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
  return (MPI_Wtime() - t0) / iters;
}

int main(int argc, char** argv) {
  int rank = 0, scale = argc > 1 ? atoi(argv[1]) : 1;
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  const int big = 4 << 20, nd = (1 << 20) / 8;
  char* buf = malloc(big);
  double* in = malloc(nd * sizeof(double));
  double* out = malloc(nd * sizeof(double));
  memset(buf, 1, big);
  for (int i = 0; i < nd; ++i) in[i] = rank + i;
  pingpong(rank, buf, 8, 2000);  /* warm-up: connections, registration caches */
  pingpong(rank, buf, big, 20);
  allreduce(in, out, nd, 20);
  double lat = pingpong(rank, buf, 8, 20000 * scale);
  double bw = pingpong(rank, buf, big, 200 * scale);
  double ar8 = allreduce(in, out, 1, 20000 * scale);
  double ar1m = allreduce(in, out, nd, 100 * scale);
  if (out[1] != 2.0 * 1 + 1) fprintf(stderr, "allreduce: wrong sum %g\n", out[1]);
  if (rank == 0) {
    /* Which libmpich this process runs on: "libmpich_maps DEV INODE PATH". */
    FILE* maps = fopen("/proc/self/maps", "r");
    char line[4096], dev[32], path[4000];
    unsigned long inode;
    while (maps && fgets(line, sizeof line, maps))
      if (strstr(line, "libmpi") && sscanf(line, "%*s %*s %*s %31s %lu %3999s", dev, &inode, path) == 3) {
        printf("libmpich_maps %s %lu %s\n", dev, inode, path);
        break;
      }
    if (maps) fclose(maps);
    printf("latency_8B %.3f us\n", lat * 1e6);
    printf("bandwidth_4MiB %.1f MB/s\n", big / bw / 1e6);
    printf("allreduce_8B %.3f us\n", ar8 * 1e6);
    printf("allreduce_1MiB %.1f us\n", ar1m * 1e6);
  }
  MPI_Finalize();
  return 0;
}
