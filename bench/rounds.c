#include "bench/rounds.h"

#include <pthread.h>
#include <stdlib.h>

#include "bench/bench_util.h"
#include "dpt/barrier.h"
#include "dpt/timer.h"

typedef struct rounds {
  const bench_rounds_ops *ops;
  void *ctx;
  int ranks, warmup, iters;
  dpt_barrier barrier;
  double *start, *end; /* [timed round][rank] */
  pthread_mutex_t mu;
  dpt_err err;         /* the first failure */
} rounds;

typedef struct rank_arg {
  rounds *r;
  int rank;
} rank_arg;

static void fail(rounds *r, int rank, const dpt_err *e)
{
  pthread_mutex_lock(&r->mu);
  int first = r->err.code == DPT_OK;
  if (first) dpt_err_set(&r->err, e->code ? e->code : DPT_EINTERNAL, "rank %d: %s", rank, e->msg);
  pthread_mutex_unlock(&r->mu);
  if (!first) return;
  r->ops->abort(r->ctx, r->err.code, r->err.msg);
  dpt_barrier_abort(&r->barrier, r->err.code, r->err.msg);
}

static void *rank_main(void *p)
{
  rank_arg *a = p;
  rounds *r = a->r;
  dpt_err e = {0};
  for (int it = 0; it < r->warmup + r->iters; it++) {
    int rc = r->ops->prepare ? r->ops->prepare(r->ctx, a->rank, &e) : 0;
    if (!rc) rc = dpt_barrier_wait(&r->barrier, a->rank, &e);
    double t0 = dpt_now();
    if (!rc) rc = r->ops->op(r->ctx, a->rank, &e);
    double t1 = dpt_now();
    if (!rc) rc = dpt_barrier_wait(&r->barrier, a->rank, &e);
    if (!rc && r->ops->check) rc = r->ops->check(r->ctx, a->rank, &e);
    if (rc) {
      fail(r, a->rank, &e);
      return NULL;
    }
    if (it >= r->warmup) {
      size_t slot = (size_t)(it - r->warmup) * (size_t)r->ranks + (size_t)a->rank;
      r->start[slot] = t0;
      r->end[slot] = t1;
    }
  }
  return NULL;
}

/* Median over rounds of (last end - first start). */
static double median_round(const rounds *r)
{
  double *t = malloc((size_t)r->iters * sizeof *t);
  if (!t) return -1.0;
  for (int it = 0; it < r->iters; it++) {
    const double *s = r->start + (size_t)it * r->ranks, *e = r->end + (size_t)it * r->ranks;
    double lo = s[0], hi = e[0];
    for (int k = 1; k < r->ranks; k++) {
      if (s[k] < lo) lo = s[k];
      if (e[k] > hi) hi = e[k];
    }
    t[it] = hi - lo;
  }
  double m = bench_median(t, r->iters);
  free(t);
  return m;
}

int bench_rounds_run(int ranks, int warmup, int iters, double timeout_s,
                     const bench_rounds_ops *ops, void *ctx, double *median_s, dpt_err *err)
{
  rounds r = {.ops = ops, .ctx = ctx, .ranks = ranks, .warmup = warmup, .iters = iters};
  size_t slots = (size_t)ranks * (size_t)iters;
  r.start = malloc(slots * sizeof *r.start);
  r.end = malloc(slots * sizeof *r.end);
  pthread_t *th = malloc((size_t)ranks * sizeof *th);
  rank_arg *args = malloc((size_t)ranks * sizeof *args);
  int rc = !r.start || !r.end || !th || !args
               ? dpt_err_set(err, DPT_ENOMEM, "bench rounds: out of memory")
               : dpt_barrier_init(&r.barrier, ranks, timeout_s, err);
  if (!rc) {
    pthread_mutex_init(&r.mu, NULL);
    int started = 0;
    for (; started < ranks; started++) {
      args[started] = (rank_arg){&r, started};
      if (pthread_create(&th[started], NULL, rank_main, &args[started])) {
        dpt_err e = {0};
        dpt_err_set(&e, DPT_EINTERNAL, "cannot start a thread");
        fail(&r, started, &e);
        break;
      }
    }
    for (int k = 0; k < started; k++) pthread_join(th[k], NULL);
    rc = r.err.code ? dpt_err_set(err, r.err.code, "%s", r.err.msg) : DPT_OK;
    if (!rc && (*median_s = median_round(&r)) < 0)
      rc = dpt_err_set(err, DPT_ENOMEM, "bench rounds: out of memory");
    pthread_mutex_destroy(&r.mu);
    dpt_barrier_destroy(&r.barrier);
  }
  free(r.start);
  free(r.end);
  free(th);
  free(args);
  return rc;
}
