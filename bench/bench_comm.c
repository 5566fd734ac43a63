/* bench_comm: the in-process allreduce (one thread per rank over shared memory) in nccl-tests'
 * columns, against the machine's memcpy bandwidth (the byte ceiling) and, when the build found
 * MPI, against MPI_Allreduce on the same sizes (bench_comm_mpi under mpirun). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "bench/allreduce_rate.h"
#include "bench/bench_opts.h"
#include "bench/bench_util.h"
#include "bench/membw.h"

enum { MAX_SIZES = 32, MAX_RANKS_LIST = 8, MPI_RANKS = 2 };
#define TARGET_VS_MPI 3.0
#define TARGET_FROM ((size_t)1 << 20)
#define TARGET_TO ((size_t)64 << 20)

typedef struct opts {
  bench_sweep sw;
  int ranks[MAX_RANKS_LIST], n_ranks;
  size_t membw_bytes;
  bool no_mpi;
  int timeout_s;
} opts;

static bool parse(int argc, char **argv, opts *o)
{
  *o = (opts){.sw = BENCH_SWEEP_DEFAULTS, .ranks = {2, 4}, .n_ranks = 2,
              .membw_bytes = MEMBW_DEFAULT_BYTES, .timeout_s = 120};
  const bench_opt table[] = {
      BENCH_SWEEP_OPTS(&o->sw),
      BENCH_LIST("--ranks", o->ranks, &o->n_ranks, MAX_RANKS_LIST),
      BENCH_BYTES("--membw-bytes", &o->membw_bytes),
      BENCH_FLAG("--no-mpi", &o->no_mpi),
      BENCH_INT("--timeout", &o->timeout_s),
  };
  return bench_parse_opts(argc, argv, table, (int)(sizeof table / sizeof table[0]),
                          "bench_comm " BENCH_SWEEP_USAGE " [--ranks 2,4] [--membw-bytes 128M] "
                          "[--no-mpi] [--timeout 120]");
}

static void print_row(const comm_row *r, double membw)
{
  char extra[32];
  snprintf(extra, sizeof extra, "%.2f", r->busbw / membw);
  comm_table_row(stdout, r, extra);
  fflush(stdout);
}

/* One in-process table; rows[] receives its rows. Returns 0, or 1 after printing an error. */
static int inprocess_table(const opts *o, int ranks, const size_t *sizes, int n, double membw,
                           comm_row *rows)
{
  printf("\nin-process allreduce, %d ranks (threads), in place, float32 sum\n", ranks);
  comm_table_header(stdout, "busbw/memcpy");
  for (int i = 0; i < n; i++) {
    dpt_err err = {0};
    if (allreduce_measure(ranks, sizes[i], o->sw.warmup, bench_sweep_iters(&o->sw, sizes[i]),
                          o->timeout_s, &rows[i], &err)) {
      fprintf(stderr, "bench_comm: error: %zu bytes on %d ranks: %s\n", sizes[i], ranks, err.msg);
      return 1;
    }
    print_row(&rows[i], membw);
  }
  return 0;
}

#ifdef DPT_BENCH_MPI_EXE
/* Runs the MPI peer over the same sweep; returns the rows it printed (0 after saying why not). */
static int run_mpi(const opts *o, const size_t *sizes, int n, comm_row *rows)
{
  char cmd[2048];
  snprintf(cmd, sizeof cmd,
           "'%s' --allow-run-as-root --oversubscribe -np %d '%s' --csv --min-bytes %zu "
           "--max-bytes %zu --warmup %d --min-iters %d --max-iters %d --budget %zu 2>&1",
           DPT_BENCH_MPIRUN, MPI_RANKS, DPT_BENCH_MPI_EXE, o->sw.min_bytes, o->sw.max_bytes,
           o->sw.warmup, o->sw.min_iters, o->sw.max_iters, o->sw.budget);
  FILE *p = popen(cmd, "r");
  if (!p) {
    printf("\nMPI comparison skipped: cannot run %s\n", DPT_BENCH_MPIRUN);
    return 0;
  }
  char line[1024], first_other[256] = "";
  int got = 0;
  while (fgets(line, sizeof line, p)) {
    if (got < n && comm_row_read_csv(line, &rows[got]) && rows[got].bytes == sizes[got]) got++;
    else if (!first_other[0] && strpbrk(line, "abcdefghijklmnopqrstuvwxyz")) /* not a rule */
      snprintf(first_other, sizeof first_other, "%.255s", line);
  }
  int status = pclose(p);
  bool ok = status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  if (ok && got == n) return n;
  first_other[strcspn(first_other, "\n")] = '\0';
  printf("\nMPI comparison skipped: mpirun %s (%d of %d rows)%s%s\n",
         ok ? "succeeded" : "failed", got, n, first_other[0] ? ": " : "", first_other);
  return 0;
}
#else
static int run_mpi(const opts *o, const size_t *sizes, int n, comm_row *rows)
{
  printf("\nMPI comparison skipped: this build found no MPI (bench_comm_mpi not built)\n");
  return 0;
}
#endif

/* In-process vs MPI busbw at 2 ranks, with the target on 1 MB..64 MB. */
static void compare(const comm_row *inproc, const comm_row *mpi, int n)
{
  printf("\nin-process vs MPI_Allreduce, %d ranks: target in-process busbw >= %.0fx MPI "
         "for every size in 1 MB..64 MB\n", MPI_RANKS, TARGET_VS_MPI);
  printf("%10s %16s %13s %8s  %s\n", "size", "in-proc busbw", "MPI busbw", "ratio", "target");
  int judged = 0, passed = 0;
  for (int i = 0; i < n; i++) {
    char sz[16];
    double ratio = inproc[i].busbw / mpi[i].busbw;
    bool in_range = inproc[i].bytes >= TARGET_FROM && inproc[i].bytes <= TARGET_TO;
    judged += in_range;
    passed += in_range && ratio >= TARGET_VS_MPI;
    printf("%10s %16.2f %13.2f %8.2f  %s\n",
           bench_format_bytes(inproc[i].bytes, sz, sizeof sz), inproc[i].busbw, mpi[i].busbw,
           ratio, in_range ? bench_mark(ratio >= TARGET_VS_MPI) : "-");
  }
  printf("target (in-process >= %.0fx MPI, 1 MB..64 MB): %s (%d of %d sizes)\n", TARGET_VS_MPI,
         judged && passed == judged ? "PASS" : "BELOW", passed, judged);
}

int main(int argc, char **argv)
{
  opts o;
  if (!parse(argc, argv, &o)) return 2;
  size_t sizes[MAX_SIZES];
  int n = bench_size_sweep(o.sw.min_bytes, o.sw.max_bytes, sizes, MAX_SIZES);
  double membw = membw_memcpy_gbps(o.membw_bytes, 5);
  if (n == 0 || membw < 0) {
    fprintf(stderr, "bench_comm: error: %s\n", n ? "out of memory" : "empty size range");
    return n ? 1 : 2;
  }
  char sz[16], lo[16], hi[16];
  printf("bench_comm: allreduce sum of float32, %s..%s in steps of x4, median time of %d..%d "
         "rounds after %d warm-up\n", bench_format_bytes(o.sw.min_bytes, lo, sizeof lo),
         bench_format_bytes(o.sw.max_bytes, hi, sizeof hi), o.sw.min_iters, o.sw.max_iters,
         o.sw.warmup);
  bench_print_load("at start");
  printf("ceiling: memcpy of %s (one thread, median of 5) = %.2f GB/s\n",
         bench_format_bytes(o.membw_bytes, sz, sizeof sz), membw);

  comm_row rows[MAX_SIZES], two_ranks[MAX_SIZES];
  bool have_two = false;
  size_t wrong = 0;
  for (int k = 0; k < o.n_ranks; k++) {
    if (inprocess_table(&o, o.ranks[k], sizes, n, membw, rows)) return 1;
    for (int i = 0; i < n; i++) wrong += rows[i].wrong;
    if (o.ranks[k] == MPI_RANKS) {
      memcpy(two_ranks, rows, sizeof rows);
      have_two = true;
    }
  }

  comm_row mpi[MAX_SIZES];
  if (o.no_mpi || !have_two) {
    printf("\nMPI comparison skipped: %s\n", o.no_mpi ? "--no-mpi" : "--ranks has no 2");
  } else if (run_mpi(&o, sizes, n, mpi)) {
    printf("\nMPI_Allreduce, %d processes under mpirun, in place, float32 sum\n", MPI_RANKS);
    comm_table_header(stdout, "busbw/memcpy");
    for (int i = 0; i < n; i++) {
      print_row(&mpi[i], membw);
      wrong += mpi[i].wrong;
    }
    compare(two_ranks, mpi, n);
  }
  bench_print_load("at end");
  if (wrong) fprintf(stderr, "bench_comm: error: %zu wrong elements (see #wrong)\n", wrong);
  return wrong ? 1 : 0;
}
