/* The in-process communicator: the ranks are threads of one process and every buffer is HOST
 * memory (CPU devices; CUDA workers use the NCCL backend, whose buffers live on the GPU).
 *
 * allreduce_sum sums in rank order, so results are exact and reproducible. Rank r owns chunk r of
 * every buffer: no other rank reads or writes it during the call, so one barrier before and one
 * after are all it needs:
 *   1. every rank publishes its buffer; barrier
 *   2. rank r sums chunk r of all buffers, buf_0 + buf_1 + ... + buf_{size-1}, a tile at a time,
 *      and writes each summed tile into every buffer (reduce-scatter and all-gather in one pass:
 *      it reads and writes size chunks, where the two phases would read 2 size - 1 and write
 *      size); with a chunk hook (host/comm/comm_threads_chunk.h) it sums into its own buffer, runs
 *      the hook on the chunk, then copies the chunk into the other buffers;
 *   3. barrier, so no rank returns (and reuses its buffer) while another still writes into it.
 * A rank that fails midway (abort, timeout) likewise returns only once no rank touches its
 * buffer. */
#include "host/comm/comm_threads_chunk.h"
#include "host/comm/comm_threads_wait.h"

#include <pthread.h>
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dpt/barrier.h"
#include "dpt/timer.h"
#include "dpt/cache_lines.h"
#include "kernels/kn_math.h"

enum {
  CHUNK_ALIGN = 16, /* floats: chunk starts on a 64-byte boundary of the buffer, for SIMD */
  SUM_TILE = 1024   /* floats summed at a time: the partial sum stays in L1 */
};

/* One rank's state: on its own cache lines so ranks never false-share. */
typedef struct rank_slot {
  alignas(DPT_CACHE_LINE) float *buf; /* published for the call in flight */
  size_t n;
  int root;
  int rank;
  double last_wait_s; /* written only by this rank, after its call's last barrier */
  dpt_comm_threads *group;
} rank_slot;

struct dpt_comm_threads {
  int size;
  dpt_barrier barrier;
  rank_slot *ranks;
  /* Ranks inside a collective that may still read or write another rank's buffer. */
  pthread_mutex_t readers_mu;
  pthread_cond_t readers_cv;
  int readers;
  dpt_comm_threads_chunk_fn chunk_fn; /* NULL: none */
  void *chunk_ctx;
};

/* Chunk c of n floats split over size ranks: as even as CHUNK_ALIGN allows, possibly empty. */
static size_t chunk_start(size_t n, int size, int c)
{
  size_t start = n * (size_t)c / (size_t)size;
  start = (start + CHUNK_ALIGN - 1) / CHUNK_ALIGN * CHUNK_ALIGN;
  return start < n ? start : n;
}

static void abort_group(dpt_comm_threads *g, int code, const char *why)
{
  dpt_barrier_abort(&g->barrier, code ? code : DPT_EABORTED, why ? why : "comm threads: aborted");
}

/* A rank broke the call contract (described in why): stop every rank with the same error. */
static int fail_group(dpt_comm_threads *g, const dpt_err *why, dpt_err *err)
{
  abort_group(g, why->code, why->msg);
  return dpt_err_set(err, why->code, "%s", why->msg);
}

/* A barrier that adds its blocked time to *wait_s and names the operation in its error. */
static int phase_barrier(rank_slot *me, const char *op, double *wait_s, dpt_err *err)
{
  dpt_err why = {0};
  double t0 = dpt_now();
  int rc = dpt_barrier_wait(&me->group->barrier, me->rank, &why);
  *wait_s += dpt_now() - t0;
  if (rc) return dpt_err_set(err, rc, "comm threads: %s: %s", op, why.msg);
  return DPT_OK;
}

/* A whole call that moves no data (a lone rank's collective, the barrier op): one barrier, which
 * still reports an abort. */
static int barrier_only(rank_slot *me, const char *op, dpt_err *err)
{
  double wait_s = 0;
  int rc = phase_barrier(me, op, &wait_s, err);
  me->last_wait_s = wait_s;
  return rc;
}

/* Counted before the first barrier, so that once any rank passes it every rank is counted. */
static void enter_reads(dpt_comm_threads *g)
{
  pthread_mutex_lock(&g->readers_mu);
  g->readers++;
  pthread_mutex_unlock(&g->readers_mu);
}

static void leave_reads(dpt_comm_threads *g)
{
  pthread_mutex_lock(&g->readers_mu);
  if (--g->readers == 0) pthread_cond_broadcast(&g->readers_cv);
  pthread_mutex_unlock(&g->readers_mu);
}

/* After a failed collective: waits until no rank touches the buffers, so the caller may free its
 * own. No deadline of its own: every failure aborts the barrier, so the ranks still counted are
 * copying or returning from a barrier that was woken, and leave shortly. */
static void wait_no_readers(dpt_comm_threads *g)
{
  pthread_mutex_lock(&g->readers_mu);
  while (g->readers > 0) pthread_cond_wait(&g->readers_cv, &g->readers_mu);
  pthread_mutex_unlock(&g->readers_mu);
}

/* Step 1 of every collective: publish the arguments, wait for all, check that the ranks agree.
 * Every call that starts here ends in finish(). */
static int publish(rank_slot *me, float *buf, size_t n, int root, const char *op, double *wait_s,
                   dpt_err *err)
{
  dpt_comm_threads *g = me->group;
  enter_reads(g);
  me->buf = buf;
  me->n = n;
  me->root = root;
  int rc = phase_barrier(me, op, wait_s, err);
  if (rc) return rc;
  for (int r = 0; r < g->size; r++) {
    const rank_slot *other = &g->ranks[r];
    if (other->n == n && other->root == root) continue;
    dpt_err why = {0};
    dpt_err_set(&why, DPT_EINTERNAL,
                "comm threads: %s: rank %d: n %zu, root %d; rank %d: n %zu, root %d", op, me->rank,
                n, root, r, other->n, other->root);
    return fail_group(g, &why, err);
  }
  return DPT_OK;
}

/* The last step: this rank touches no other buffer any more; the final barrier keeps the others
 * from returning while their buffers may still be read or written. */
static int finish(rank_slot *me, const char *op, int rc, double *wait_s, dpt_err *err)
{
  leave_reads(me->group);
  if (!rc) rc = phase_barrier(me, op, wait_s, err);
  if (rc) wait_no_readers(me->group);
  me->last_wait_s = *wait_s;
  return rc;
}

/* [lo, hi) = buf_0 + buf_1 + ... + buf_{size-1}, added in exactly that order (the contract the
 * parameter server reproduces bit for bit), written into every published buffer, or only into
 * `only` when it is not NULL. */
static void sum_in_rank_order(const dpt_comm_threads *g, size_t lo, size_t hi, float *only)
{
  float acc[SUM_TILE];
  for (size_t t = lo; t < hi; t += SUM_TILE) {
    size_t len = hi - t < SUM_TILE ? hi - t : SUM_TILE;
    memcpy(acc, g->ranks[0].buf + t, len * sizeof *acc);
    for (int r = 1; r < g->size; r++) {
      const float *x = g->ranks[r].buf + t;
      for (size_t i = 0; i < len; i++) kn_add_at(i, x, acc);
    }
    if (only)
      memcpy(only + t, acc, len * sizeof *acc);
    else
      for (int r = 0; r < g->size; r++) memcpy(g->ranks[r].buf + t, acc, len * sizeof *acc);
  }
}

/* Copies [lo, hi) of this rank's buffer into every other published buffer. */
static void spread_chunk(const rank_slot *me, size_t lo, size_t hi)
{
  const dpt_comm_threads *g = me->group;
  for (int r = 0; r < g->size; r++)
    if (r != me->rank) memcpy(g->ranks[r].buf + lo, me->buf + lo, (hi - lo) * sizeof *me->buf);
}

/* The hook on this rank's chunk [lo, hi); its failure stops every rank. */
static int run_chunk_fn(rank_slot *me, float *buf, size_t lo, size_t hi, dpt_err *err)
{
  dpt_comm_threads *g = me->group;
  dpt_err why = {0};
  if (g->chunk_fn(g->chunk_ctx, me->rank, buf + lo, hi - lo, &why) == DPT_OK) return DPT_OK;
  return fail_group(g, &why, err);
}

static int threads_allreduce_sum(void *ctx, float *buf, size_t n, dpt_err *err)
{
  rank_slot *me = ctx;
  dpt_comm_threads *g = me->group;
  if (g->size == 1 && !g->chunk_fn) return barrier_only(me, "allreduce", err);
  double wait_s = 0;
  int rc = publish(me, buf, n, 0, "allreduce", &wait_s, err);
  size_t lo = chunk_start(n, g->size, me->rank), hi = chunk_start(n, g->size, me->rank + 1);
  if (!rc && !g->chunk_fn) sum_in_rank_order(g, lo, hi, NULL);
  if (!rc && g->chunk_fn) {
    if (g->size > 1) sum_in_rank_order(g, lo, hi, buf);
    rc = run_chunk_fn(me, buf, lo, hi, err);
    if (!rc) spread_chunk(me, lo, hi);
  }
  return finish(me, "allreduce", rc, &wait_s, err);
}

static int threads_broadcast(void *ctx, float *buf, size_t n, int root, dpt_err *err)
{
  rank_slot *me = ctx;
  dpt_comm_threads *g = me->group;
  if (root < 0 || root >= g->size) {
    dpt_err why = {0};
    dpt_err_set(&why, DPT_EINTERNAL, "comm threads: broadcast: root %d outside 0..%d", root,
                g->size - 1);
    return fail_group(g, &why, err);
  }
  if (g->size == 1) return barrier_only(me, "broadcast", err);
  double wait_s = 0;
  int rc = publish(me, buf, n, root, "broadcast", &wait_s, err);
  if (!rc && me->rank != root) memcpy(buf, g->ranks[root].buf, n * sizeof *buf);
  return finish(me, "broadcast", rc, &wait_s, err);
}

static int threads_barrier(void *ctx, dpt_err *err) { return barrier_only(ctx, "barrier", err); }

static void threads_abort(void *ctx, int code, const char *why)
{
  rank_slot *me = ctx;
  abort_group(me->group, code, why);
}

static size_t threads_allreduce_bytes(void *ctx, size_t n)
{
  const rank_slot *me = ctx;
  return dpt_comm_ring_allreduce_bytes(me->group->size, n);
}

static const dpt_comm_ops threads_ops = {
    .name = "threads",
    .allreduce_sum = threads_allreduce_sum,
    .broadcast = threads_broadcast,
    .barrier = threads_barrier,
    .abort = threads_abort,
    .allreduce_bytes = threads_allreduce_bytes,
};

int dpt_comm_threads_create(int size, double timeout_s, dpt_comm_threads **out, dpt_err *err)
{
  *out = NULL;
  if (size < 1)
    return dpt_err_set(err, DPT_EINPUT, "comm threads: %d ranks: need at least 1", size);
  dpt_comm_threads *g = calloc(1, sizeof *g);
  rank_slot *ranks = dpt_cache_lines_alloc((size_t)size, sizeof *ranks);
  if (!g || !ranks) {
    free(g);
    free(ranks);
    return dpt_err_set(err, DPT_ENOMEM, "comm threads: out of memory for %d ranks", size);
  }
  int rc = dpt_barrier_init(&g->barrier, size, timeout_s, err);
  if (rc) {
    free(g);
    free(ranks);
    return rc;
  }
  pthread_mutex_init(&g->readers_mu, NULL);
  pthread_cond_init(&g->readers_cv, NULL);
  for (int r = 0; r < size; r++) {
    ranks[r].rank = r;
    ranks[r].group = g;
  }
  g->size = size;
  g->ranks = ranks;
  *out = g;
  return DPT_OK;
}

dpt_comm dpt_comm_threads_rank(dpt_comm_threads *g, int rank)
{
  return (dpt_comm){.vt = &threads_ops, .ctx = &g->ranks[rank], .rank = rank, .size = g->size};
}

void dpt_comm_threads_set_chunk_fn(dpt_comm_threads *g, dpt_comm_threads_chunk_fn fn, void *ctx)
{
  g->chunk_fn = fn;
  g->chunk_ctx = ctx;
}

void dpt_comm_threads_name_ranks_from(dpt_comm_threads *g, int first)
{
  dpt_barrier_name_from(&g->barrier, first);
}

double dpt_comm_threads_last_wait_s(const dpt_comm_threads *g, int rank)
{
  return g->ranks[rank].last_wait_s;
}

void dpt_comm_threads_destroy(dpt_comm_threads *g)
{
  if (!g) return;
  dpt_barrier_destroy(&g->barrier);
  pthread_mutex_destroy(&g->readers_mu);
  pthread_cond_destroy(&g->readers_cv);
  free(g->ranks);
  free(g);
}
