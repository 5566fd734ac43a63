/* bench_comm_mpi: MPI_Allreduce (MPI_SUM, MPI_FLOAT, in place) over the same sweep, data, rounds
 * and columns as bench_comm's in-process allreduce, so the two compare row by row. With --csv,
 * rank 0 prints bare rows for bench_comm to read. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench/bench_opts.h"
#include "bench/bench_util.h"
#include "bench/check_data.h"
#include "bench/comm_table.h"
#include "dpt/timer.h"

enum { MAX_SIZES = 32 };

/* One round's wall time: the first rank's start to the last rank's end. dpt_now reads
 * CLOCK_MONOTONIC, one clock for every process of this machine (the only place this runs). */
static double round_time(float *buf, int count, int rank, MPI_Comm comm)
{
  check_data_fill(buf, (size_t)count, rank);
  MPI_Barrier(comm);
  double t0 = dpt_now();
  MPI_Allreduce(MPI_IN_PLACE, buf, count, MPI_FLOAT, MPI_SUM, comm);
  double t1 = dpt_now(), lo, hi;
  MPI_Allreduce(&t0, &lo, 1, MPI_DOUBLE, MPI_MIN, comm);
  MPI_Allreduce(&t1, &hi, 1, MPI_DOUBLE, MPI_MAX, comm);
  return hi - lo;
}

/* The row for one size (on every rank); 0 when some rank ran out of memory. */
static int measure(const bench_sweep *sw, size_t bytes, int rank, int ranks, comm_row *out)
{
  int count = (int)(bytes / sizeof(float)), iters = bench_sweep_iters(sw, bytes);
  float *buf = malloc(bytes);
  double *t = malloc((size_t)iters * sizeof *t);
  int ok = buf && t, all_ok;
  MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD);
  unsigned long wrong = 0, wrong_all = 0;
  for (int it = 0; all_ok && it < sw->warmup + iters; it++) {
    double dt = round_time(buf, count, rank, MPI_COMM_WORLD);
    if (it >= sw->warmup) t[it - sw->warmup] = dt;
    wrong += check_data_wrong(buf, (size_t)count, ranks);
  }
  MPI_Allreduce(&wrong, &wrong_all, 1, MPI_UNSIGNED_LONG, MPI_SUM, MPI_COMM_WORLD);
  if (all_ok) *out = comm_row_make(bytes, ranks, bench_median(t, iters), wrong_all);
  free(buf);
  free(t);
  return all_ok;
}

int main(int argc, char **argv)
{
  MPI_Init(&argc, &argv);
  int rank, ranks;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &ranks);
  bench_sweep sw = BENCH_SWEEP_DEFAULTS;
  bool csv = false;
  const bench_opt table[] = {BENCH_SWEEP_OPTS(&sw), BENCH_FLAG("--csv", &csv)};
  if (!bench_parse_opts(argc, argv, table, (int)(sizeof table / sizeof table[0]),
                        "bench_comm_mpi " BENCH_SWEEP_USAGE " [--csv]")) {
    MPI_Finalize();
    return 2;
  }
  size_t sizes[MAX_SIZES];
  int n = bench_size_sweep(sw.min_bytes, sw.max_bytes, sizes, MAX_SIZES), rc = 0;
  if (rank == 0 && !csv) {
    printf("bench_comm_mpi: MPI_Allreduce, %d processes, in place, float32 sum\n", ranks);
    comm_table_header(stdout, NULL);
  }
  for (int i = 0; i < n && !rc; i++) {
    comm_row row;
    if (!measure(&sw, sizes[i], rank, ranks, &row)) {
      if (rank == 0) fprintf(stderr, "bench_comm_mpi: error: out of memory at %zu bytes\n", sizes[i]);
      rc = 1;
    } else if (rank == 0) {
      if (csv) comm_row_write_csv(stdout, &row);
      else comm_table_row(stdout, &row, NULL);
      fflush(stdout);
    }
  }
  MPI_Finalize();
  return rc;
}
