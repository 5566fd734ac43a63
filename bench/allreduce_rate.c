#include "bench/allreduce_rate.h"

#include <stdlib.h>

#include "bench/check_data.h"
#include "bench/rounds.h"
#include "dpt/cache_lines.h"
#include "dpt/comm.h"

typedef struct ar_ctx {
  dpt_comm_threads *group;
  dpt_comm *comms;
  float **bufs;
  size_t *wrong; /* per rank */
  size_t count;
  int ranks;
} ar_ctx;

static int ar_prepare(void *p, int rank, dpt_err *err)
{
  ar_ctx *c = p;
  check_data_fill(c->bufs[rank], c->count, rank);
  return DPT_OK;
}

static int ar_op(void *p, int rank, dpt_err *err)
{
  ar_ctx *c = p;
  return dpt_comm_allreduce_sum(&c->comms[rank], c->bufs[rank], c->count, err);
}

static int ar_check(void *p, int rank, dpt_err *err)
{
  ar_ctx *c = p;
  c->wrong[rank] += check_data_wrong(c->bufs[rank], c->count, c->ranks);
  return DPT_OK;
}

static void ar_abort(void *p, int code, const char *why)
{
  ar_ctx *c = p;
  dpt_comm_abort(&c->comms[0], code, why); /* any rank's handle wakes the whole group */
}

static const bench_rounds_ops ar_ops = {
    .prepare = ar_prepare, .op = ar_op, .check = ar_check, .abort = ar_abort};

int allreduce_measure(int ranks, size_t bytes, int warmup, int iters, double timeout_s,
                      comm_row *out, dpt_err *err)
{
  ar_ctx c = {.count = bytes / sizeof(float), .ranks = ranks};
  c.comms = calloc((size_t)ranks, sizeof *c.comms);
  c.bufs = calloc((size_t)ranks, sizeof *c.bufs);
  c.wrong = calloc((size_t)ranks, sizeof *c.wrong);
  /* Cache-line aligned like a device allocation. */
  int rc = c.comms && c.bufs && c.wrong ? DPT_OK : DPT_ENOMEM;
  for (int r = 0; !rc && r < ranks; r++)
    if (!(c.bufs[r] = dpt_cache_aligned_alloc(bytes))) rc = DPT_ENOMEM;
  if (rc) rc = dpt_err_set(err, rc, "allreduce bench: out of memory for %zu bytes", bytes);
  if (!rc) rc = dpt_comm_threads_create(ranks, timeout_s, &c.group, err);
  if (!rc) {
    for (int r = 0; r < ranks; r++) c.comms[r] = dpt_comm_threads_rank(c.group, r);
    double t;
    rc = bench_rounds_run(ranks, warmup, iters, timeout_s, &ar_ops, &c, &t, err);
    size_t wrong = 0;
    for (int r = 0; r < ranks; r++) wrong += c.wrong[r];
    if (!rc) *out = comm_row_make(bytes, ranks, t, wrong);
    dpt_comm_threads_destroy(c.group);
  }
  for (int r = 0; c.bufs && r < ranks; r++) free(c.bufs[r]);
  free(c.bufs);
  free(c.comms);
  free(c.wrong);
  return rc;
}
