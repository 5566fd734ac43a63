/* bench_ps: push + pull rounds through the parameter server (dpt_ps_*) with N worker threads and
 * K = 1 or K = N shards, against the in-process allreduce on the same size and N, measured in the
 * same run with the same rounds, and against the memcpy bandwidth. */
#include <stdio.h>
#include <stdlib.h>

#include "bench/allreduce_rate.h"
#include "bench/bench_opts.h"
#include "bench/bench_util.h"
#include "bench/check_data.h"
#include "bench/membw.h"
#include "bench/rounds.h"
#include "dpt/ps.h"

enum { MAX_SIZES = 32, MAX_RANKS_LIST = 8 };

typedef struct ps_ctx {
  dpt_ps *ps;
  float **grads, **params; /* per worker */
  size_t count;
} ps_ctx;

static int ps_op(void *p, int rank, dpt_err *err)
{
  ps_ctx *c = p;
  int rc = dpt_ps_push(c->ps, rank, c->grads[rank], 1e-3f, NULL, err);
  return rc ? rc : dpt_ps_pull(c->ps, rank, c->params[rank], NULL, err);
}

static void ps_abort(void *p, int code, const char *why)
{
  ps_ctx *c = p;
  dpt_ps_abort(c->ps, code, why);
}

static const bench_rounds_ops ps_ops = {.op = ps_op, .abort = ps_abort};

/* Median seconds of one push + pull round of bytes / 4 parameters. */
static int ps_measure(int workers, int shards, size_t bytes, int warmup, int iters,
                      double timeout_s, double *time_s, dpt_err *err)
{
  ps_ctx c = {.count = bytes / sizeof(float)};
  float *init = calloc(c.count, sizeof *init);
  c.grads = calloc((size_t)workers, sizeof *c.grads);
  c.params = calloc((size_t)workers, sizeof *c.params);
  int rc = init && c.grads && c.params ? DPT_OK : DPT_ENOMEM;
  for (int w = 0; !rc && w < workers; w++) {
    c.grads[w] = malloc(bytes);
    c.params[w] = malloc(bytes);
    if (!c.grads[w] || !c.params[w]) rc = DPT_ENOMEM;
    else check_data_fill(c.grads[w], c.count, w);
  }
  if (rc) rc = dpt_err_set(err, rc, "ps bench: out of memory for %zu bytes", bytes);
  dpt_ps_config cfg = {.n_params = c.count, .n_workers = workers, .n_shards = shards,
                       .momentum = 0.9f, .weight_decay = 0.f, .timeout_s = timeout_s};
  if (!rc) rc = dpt_ps_create(&cfg, init, &c.ps, err);
  if (!rc) {
    rc = bench_rounds_run(workers, warmup, iters, timeout_s, &ps_ops, &c, time_s, err);
    dpt_ps_destroy(c.ps);
  }
  for (int w = 0; c.grads && c.params && w < workers; w++) {
    free(c.grads[w]);
    free(c.params[w]);
  }
  free(c.grads);
  free(c.params);
  free(init);
  return rc;
}

typedef struct opts {
  bench_sweep sw;
  int ranks[MAX_RANKS_LIST], n_ranks;
  int timeout_s;
} opts;

static bool parse(int argc, char **argv, opts *o)
{
  *o = (opts){.sw = BENCH_SWEEP_DEFAULTS, .ranks = {2, 4}, .n_ranks = 2, .timeout_s = 120};
  const bench_opt table[] = {
      BENCH_SWEEP_OPTS(&o->sw),
      BENCH_LIST("--workers", o->ranks, &o->n_ranks, MAX_RANKS_LIST),
      BENCH_INT("--timeout", &o->timeout_s),
  };
  return bench_parse_opts(argc, argv, table, (int)(sizeof table / sizeof table[0]),
                          "bench_ps " BENCH_SWEEP_USAGE " [--workers 2,4] [--timeout 120]");
}

/* The rows of one size and worker count: K = 1 and K = N beside the allreduce. */
static int size_rows(const opts *o, int n, size_t bytes, double membw)
{
  int iters = bench_sweep_iters(&o->sw, bytes);
  dpt_err err = {0};
  comm_row ar;
  if (allreduce_measure(n, bytes, o->sw.warmup, iters, o->timeout_s, &ar, &err)) {
    fprintf(stderr, "bench_ps: error: allreduce, %zu bytes, %d ranks: %s\n", bytes, n, err.msg);
    return 1;
  }
  int shards[2] = {1, n};
  for (int s = 0; s < (n > 1 ? 2 : 1); s++) {
    double t;
    if (ps_measure(n, shards[s], bytes, o->sw.warmup, iters, o->timeout_s, &t, &err)) {
      fprintf(stderr, "bench_ps: error: ps, %zu bytes, N=%d, K=%d: %s\n", bytes, n, shards[s],
              err.msg);
      return 1;
    }
    char sz[16];
    double gbps = 2.0 * (double)bytes / t * 1e-9;
    printf("%10s %3d %3d %12.1f %12.2f %12.2f %10.2f %9.2f\n",
           bench_format_bytes(bytes, sz, sizeof sz), n, shards[s], t * 1e6, gbps, ar.busbw,
           gbps / ar.busbw, gbps / membw);
    fflush(stdout);
  }
  if (ar.wrong) fprintf(stderr, "bench_ps: error: allreduce had %zu wrong elements\n", ar.wrong);
  return ar.wrong ? 1 : 0;
}

int main(int argc, char **argv)
{
  opts o;
  if (!parse(argc, argv, &o)) return 2;
  size_t sizes[MAX_SIZES];
  int n = bench_size_sweep(o.sw.min_bytes, o.sw.max_bytes, sizes, MAX_SIZES);
  double membw = membw_memcpy_gbps(MEMBW_DEFAULT_BYTES, 5);
  if (n == 0 || membw < 0) {
    fprintf(stderr, "bench_ps: error: %s\n", n ? "out of memory" : "empty size range");
    return n ? 1 : 2;
  }
  printf("bench_ps: parameter server push + pull per worker per round (synchronous rounds), "
         "N workers, K shards, %d server thread(s) (dptrain's default); median of %d..%d rounds "
         "after %d warm-up\n",
         dpt_ps_server_threads(0), o.sw.min_iters, o.sw.max_iters, o.sw.warmup);
  bench_print_load("at start");
  printf("peer: in-process allreduce busbw at the same size and N (same run, same rounds); "
         "ceiling: memcpy %.2f GB/s\n\n", membw);
  printf("%10s %3s %3s %12s %12s %12s %10s %9s\n", "size", "N", "K", "round(us)", "GB/s/worker",
         "AR busbw", "ps/AR", "/memcpy");
  for (int r = 0; r < o.n_ranks; r++)
    for (int i = 0; i < n; i++)
      if (size_rows(&o, o.ranks[r], sizes[i], membw)) return 1;
  printf("\nGB/s/worker = 2 x size / round time (push + pull); AR busbw = algbw x 2(N-1)/N\n");
  printf("targets: none for the server alone (bench_train checks ps >= 0.9 x allreduce "
         "samples/s)\n");
  bench_print_load("at end");
  return 0;
}
