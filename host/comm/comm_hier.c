/* The hierarchical communicator (host/comm/comm_hier.h): the in-process group with a chunk hook that
 * carries each chunk across processes, and the other collectives built from the same two parts. */
#include "host/comm/comm_hier.h"

#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>

#include "dpt/cache_lines.h"
#include "host/comm/comm_threads_chunk.h"
#include "host/comm/comm_threads_wait.h"
#include "mpi/mpi_chan.h"

/* One local rank's handle, on its own cache lines. */
typedef struct hier_rank {
  alignas(DPT_CACHE_LINE) dpt_comm local; /* its rank of the in-process group */
  dpt_comm_hier *h;
  int rank; /* local */
} hier_rank;

struct dpt_comm_hier {
  dpt_comm_threads *local;
  dpt_mpi_chan **chans; /* chans[w]: local rank w's, to the local ranks w of other processes */
  int size, procs, proc;
  hier_rank *ranks;
};

/* Stops every local rank: those in the in-process group, and those in their MPI waits. */
static void abort_all(dpt_comm_hier *h, int code, const char *why)
{
  dpt_comm_abort(&h->ranks[0].local, code, why);
  for (int w = 0; w < h->size; w++) dpt_mpi_chan_abort(h->chans[w], code, why);
}

/* A failed MPI stage (rc, described in err) stops every local rank before the caller returns. */
static int across(dpt_comm_hier *h, int rc, const dpt_err *err)
{
  if (rc) abort_all(h, rc, err->msg);
  return rc;
}

/* Stage 2 of an allreduce, run by the in-process group on local rank w's chunk. */
static int sum_chunk_across(void *ctx, int rank, float *chunk, size_t n, dpt_err *err)
{
  dpt_comm_hier *h = ctx;
  return across(h, dpt_mpi_chan_sum(h->chans[rank], chunk, n, err), err);
}

static int hier_allreduce_sum(void *ctx, float *buf, size_t n, dpt_err *err)
{
  hier_rank *r = ctx;
  return dpt_comm_allreduce_sum(&r->local, buf, n, err);
}

/* Global root p x N + w: every process spreads its local rank w's buffer (only process p's
 * matters), local rank 0 of each process takes process p's over MPI, then spreads it. */
static int hier_broadcast(void *ctx, float *buf, size_t n, int root, dpt_err *err)
{
  hier_rank *r = ctx;
  dpt_comm_hier *h = r->h;
  if (root < 0 || root >= h->procs * h->size) {
    dpt_err why = {0};
    dpt_err_set(&why, DPT_EINTERNAL, "comm hier: broadcast: root %d outside 0..%d", root,
                h->procs * h->size - 1);
    abort_all(h, why.code, why.msg);
    return dpt_err_set(err, why.code, "%s", why.msg);
  }
  int rc = dpt_comm_broadcast(&r->local, buf, n, root % h->size, err);
  if (!rc && r->rank == 0)
    rc = across(h, dpt_mpi_chan_bcast(h->chans[0], buf, n * sizeof *buf, root / h->size, err),
                err);
  return rc ? rc : dpt_comm_broadcast(&r->local, buf, n, 0, err);
}

static int hier_barrier(void *ctx, dpt_err *err)
{
  hier_rank *r = ctx;
  dpt_comm_hier *h = r->h;
  int rc = dpt_comm_barrier(&r->local, err);
  if (!rc && r->rank == 0) rc = across(h, dpt_mpi_chan_barrier(h->chans[0], err), err);
  return rc ? rc : dpt_comm_barrier(&r->local, err);
}

static void hier_abort(void *ctx, int code, const char *why)
{
  hier_rank *r = ctx;
  abort_all(r->h, code, why);
}

/* The in-process stages' bytes, plus the local rank's chunk (about n / N) across processes. */
static size_t hier_allreduce_bytes(void *ctx, size_t n)
{
  hier_rank *r = ctx;
  size_t chunk = (n + (size_t)r->h->size - 1) / (size_t)r->h->size;
  return dpt_comm_allreduce_bytes(&r->local, n) + dpt_mpi_chan_sum_bytes(chunk, r->h->procs);
}

static const dpt_comm_ops hier_ops = {
    .name = "hier",
    .allreduce_sum = hier_allreduce_sum,
    .broadcast = hier_broadcast,
    .barrier = hier_barrier,
    .abort = hier_abort,
    .allreduce_bytes = hier_allreduce_bytes,
};

int dpt_comm_hier_create(int size, double timeout_s, dpt_comm_hier **out, dpt_err *err)
{
  *out = NULL;
  if (size < 1) return dpt_err_set(err, DPT_EINPUT, "comm hier: %d ranks: need at least 1", size);
  dpt_comm_hier *h = calloc(1, sizeof *h);
  int rc = h ? DPT_OK : dpt_err_set(err, DPT_ENOMEM, "comm hier: out of memory");
  if (!rc) {
    h->size = size;
    h->chans = calloc((size_t)size, sizeof *h->chans);
    h->ranks = dpt_cache_lines_alloc((size_t)size, sizeof *h->ranks);
    if (!h->chans || !h->ranks) rc = dpt_err_set(err, DPT_ENOMEM, "comm hier: out of memory");
  }
  if (!rc) rc = dpt_comm_threads_create(size, timeout_s, &h->local, err);
  for (int w = 0; w < size && !rc; w++) {
    char name[32];
    snprintf(name, sizeof name, "allreduce chunk %d", w);
    rc = dpt_mpi_chan_open(name, timeout_s, &h->chans[w], err);
    if (!rc) dpt_mpi_chan_name_workers(h->chans[w], w, size);
  }
  if (rc) {
    dpt_comm_hier_destroy(h);
    return rc;
  }
  h->procs = dpt_mpi_chan_size(h->chans[0]);
  h->proc = dpt_mpi_chan_rank(h->chans[0]);
  dpt_comm_threads_set_chunk_fn(h->local, sum_chunk_across, h);
  dpt_comm_threads_name_ranks_from(h->local, h->proc * size);
  for (int w = 0; w < size; w++)
    h->ranks[w] = (hier_rank){.local = dpt_comm_threads_rank(h->local, w), .h = h, .rank = w};
  *out = h;
  return DPT_OK;
}

dpt_comm dpt_comm_hier_rank(dpt_comm_hier *h, int local_rank)
{
  return (dpt_comm){.vt = &hier_ops, .ctx = &h->ranks[local_rank],
                    .rank = h->proc * h->size + local_rank, .size = h->procs * h->size};
}

double dpt_comm_hier_last_wait_s(const dpt_comm_hier *h, int local_rank)
{
  return dpt_comm_threads_last_wait_s(h->local, local_rank);
}

void dpt_comm_hier_destroy(dpt_comm_hier *h)
{
  if (!h) return;
  for (int w = 0; h->chans && w < h->size; w++) dpt_mpi_chan_close(h->chans[w]);
  dpt_comm_threads_destroy(h->local);
  free(h->chans);
  free(h->ranks);
  free(h);
}
