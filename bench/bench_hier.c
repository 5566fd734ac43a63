/* bench_hier: the hierarchical allreduce of dptrain over MPI processes (host/comm/comm_hier.h: the
 * in-process reduce-scatter, each chunk summed across processes in rank order, the in-process
 * all-gather) over the same sweep, data and columns as bench_comm and bench_comm_mpi, so the
 * three compare row by row. Run under mpiexec:
 *   mpiexec -n 2 build/bench/bench_hier --workers 2
 * Rows count ranks as every process's threads (busbw = algbw * 2(ranks-1)/ranks). */
#include <stdio.h>
#include <stdlib.h>

#include "bench/bench_opts.h"
#include "bench/bench_util.h"
#include "bench/check_data.h"
#include "bench/comm_table.h"
#include "bench/rounds.h"
#include "dpt/cache_lines.h"
#include "dpt/comm.h"
#include "host/comm/comm_hier.h"
#include "mpi/mpi_chan.h"
#include "mpi/mpi_env.h"

enum { MAX_SIZES = 32, MAX_WORKERS = 64 };
static const double TIMEOUT_S = 120;

typedef struct hier_ctx {
  dpt_comm comms[MAX_WORKERS];
  float *bufs[MAX_WORKERS];
  size_t wrong[MAX_WORKERS];
  dpt_mpi_chan *line_up; /* lines the processes up before each round (untimed) */
  size_t count;
  int ranks; /* every process's threads */
} hier_ctx;

static int hier_prepare(void *p, int rank, dpt_err *err)
{
  hier_ctx *c = p;
  check_data_fill(c->bufs[rank], c->count, c->comms[rank].rank);
  return rank == 0 ? dpt_mpi_chan_barrier(c->line_up, err) : DPT_OK;
}

static int hier_op(void *p, int rank, dpt_err *err)
{
  hier_ctx *c = p;
  return dpt_comm_allreduce_sum(&c->comms[rank], c->bufs[rank], c->count, err);
}

static int hier_check(void *p, int rank, dpt_err *err)
{
  hier_ctx *c = p;
  c->wrong[rank] += check_data_wrong(c->bufs[rank], c->count, c->ranks);
  return DPT_OK;
}

static void hier_abort(void *p, int code, const char *why)
{
  hier_ctx *c = p;
  dpt_comm_abort(&c->comms[0], code, why);
  dpt_mpi_chan_abort(c->line_up, code, why);
}

static const bench_rounds_ops hier_ops = {
    .prepare = hier_prepare, .op = hier_op, .check = hier_check, .abort = hier_abort};

/* One row, the same on every process: the slowest process's median, every process's #wrong. */
static int measure(hier_ctx *c, int workers, const bench_sweep *sw, size_t bytes, comm_row *out,
                   dpt_err *err)
{
  c->count = bytes / sizeof(float);
  int rc = DPT_OK;
  for (int w = 0; w < workers && !rc; w++) {
    c->wrong[w] = 0;
    if (!(c->bufs[w] = dpt_cache_aligned_alloc(bytes)))
      rc = dpt_err_set(err, DPT_ENOMEM, "bench_hier: out of memory for %zu bytes", bytes);
  }
  double median = 0;
  if (!rc)
    rc = bench_rounds_run(workers, sw->warmup, bench_sweep_iters(sw, bytes), TIMEOUT_S, &hier_ops,
                          c, &median, err);
  for (int w = 0; w < workers; w++) {
    free(c->bufs[w]);
    c->bufs[w] = NULL;
  }
  if (rc) return rc;
  double mine[2] = {median, 0};
  for (int w = 0; w < workers; w++) mine[1] += (double)c->wrong[w];
  int procs = dpt_mpi_chan_size(c->line_up);
  double *all = calloc(2 * (size_t)procs, sizeof *all);
  if (!all) return dpt_err_set(err, DPT_ENOMEM, "bench_hier: out of memory");
  rc = dpt_mpi_chan_allgather(c->line_up, mine, sizeof mine, all, err);
  double slowest = 0, wrong = 0;
  for (int p = 0; p < procs && !rc; p++) {
    slowest = all[2 * p] > slowest ? all[2 * p] : slowest;
    wrong += all[2 * p + 1];
  }
  free(all);
  if (!rc) *out = comm_row_make(bytes, c->ranks, slowest, (size_t)wrong);
  return rc;
}

static int run(int workers, const bench_sweep *sw, int rank, dpt_err *err)
{
  hier_ctx c = {0};
  dpt_comm_hier *h = NULL;
  int rc = dpt_mpi_chan_open("bench line-up", TIMEOUT_S, &c.line_up, err);
  if (!rc) rc = dpt_comm_hier_create(workers, TIMEOUT_S, &h, err);
  if (rc) return rc;
  c.ranks = dpt_mpi_chan_size(c.line_up) * workers;
  for (int w = 0; w < workers; w++) c.comms[w] = dpt_comm_hier_rank(h, w);
  if (rank == 0) {
    printf("bench_hier: hierarchical allreduce, %d processes x %d threads, in place, float32 sum "
           "in a fixed order\n", c.ranks / workers, workers);
    bench_print_load("before");
    comm_table_header(stdout, NULL);
  }
  size_t sizes[MAX_SIZES];
  int n = bench_size_sweep(sw->min_bytes, sw->max_bytes, sizes, MAX_SIZES);
  for (int i = 0; i < n && !rc; i++) {
    comm_row row;
    rc = measure(&c, workers, sw, sizes[i], &row, err);
    if (!rc && rank == 0) {
      comm_table_row(stdout, &row, NULL);
      fflush(stdout);
    }
  }
  dpt_comm_hier_destroy(h);
  dpt_mpi_chan_close(c.line_up);
  return rc;
}

int main(int argc, char **argv)
{
  bench_sweep sw = BENCH_SWEEP_DEFAULTS;
  int workers = 1;
  const bench_opt table[] = {BENCH_SWEEP_OPTS(&sw), BENCH_INT("--workers", &workers)};
  if (!bench_parse_opts(argc, argv, table, (int)(sizeof table / sizeof table[0]),
                        "mpiexec -n P bench_hier [--workers 1] " BENCH_SWEEP_USAGE))
    return 2;
  if (workers > MAX_WORKERS) {
    fprintf(stderr, "bench_hier: --workers %d: at most %d\n", workers, MAX_WORKERS);
    return 2;
  }
  dpt_mpi_env env;
  dpt_err err = {0};
  if (dpt_mpi_env_init(&argc, &argv, &env, &err) == DPT_OK && !env.started)
    dpt_err_set(&err, DPT_EINPUT, "not started by an MPI launcher: mpiexec -n 2 bench_hier ...");
  if (!err.code) run(workers, &sw, env.rank, &err);
  if (err.code) {
    fprintf(stderr, "bench_hier: error: rank %d: %s\n", env.rank, err.msg);
    dpt_mpi_env_abort(&env, 1);
    return 1;
  }
  dpt_mpi_env_finalize(&env);
  return 0;
}
