/* The NCCL communicator (host/comm/comm_nccl.h): one non-blocking NCCL communicator per rank, each
 * created, used and ended by its rank's own thread.
 *
 * How an error in one rank reaches every rank without a hang. NCCL forbids two threads from
 * working one communicator at once, and ncclCommAbort frees it, so no thread may abort another
 * rank's communicator while that rank polls it. Hence:
 *  - abort (any thread) only marks the group: the first code and message, an atomic flag, and
 *    an abort of the group's host barrier;
 *  - each rank ends its own communicator (ncclCommAbort) when it notices: every wait of a rank is
 *    a poll loop (init, queueing, the stream, finalize) that checks the flag, NCCL's async error
 *    and the deadline between polls; a rank outside any call notices at its next call, or at
 *    detach, which aborts instead of finalizing once the group was aborted;
 *  - a rank that fails (an NCCL or CUDA error, the deadline) marks the group, then aborts its own.
 * So a collective whose peer died returns within one poll of the abort, or at the deadline.
 *
 * Every collective starts at a host barrier: a rank that failed before the call wakes the others
 * there, before any GPU waits on it, and the time spent there is the wait for the slowest rank,
 * measured as the in-process communicator measures it. One thread per GPU: no ncclGroupStart/End
 * is needed (those are for one thread driving several GPUs). */
#include "host/comm/comm_nccl.h"

#include <cuda_runtime_api.h>
#include <nccl.h>
#include <pthread.h>
#include <sched.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dpt/barrier.h"
#include "dpt/timer.h"
#include "dpt/cache_lines.h"
#include "kernels/cuda_check.h"
#include "host/comm/nccl_check.h"

/* How long a rank that got NCCL's remote error waits for the failed peer's own error. */
#define REMOTE_CAUSE_WAIT_S 1.0

/* One rank's state, touched only by its own thread (group fields aside), on its own cache lines. */
typedef struct nccl_rank {
  alignas(DPT_CACHE_LINE) ncclComm_t comm; /* NULL before init, after a failed init, abort or
                                              detach */
  cudaStream_t stream;
  bool own_stream; /* made at attach; else the device's, which the queued sums run behind */
  cudaEvent_t queued[2]; /* allreduce_sum_queued: after its call k, on queued[k % 2] */
  long queued_calls;
  float *token; /* one float of device memory: what a barrier reduces */
  bool attached;
  int ordinal;
  int rank; /* this process's, 0..size-1; the group's rank is first + rank */
  double last_wait_s;
  dpt_comm_nccl *group;
} nccl_rank;

_Static_assert(sizeof(ncclUniqueId) == DPT_COMM_NCCL_ID_BYTES, "ncclUniqueId is 128 bytes");

struct dpt_comm_nccl {
  int size;  /* this process's ranks */
  int first; /* the group's rank of this process's rank 0 */
  int total; /* the group's ranks over every process */
  double timeout_s;      /* a collective's (and finalize's) deadline */
  double init_timeout_s; /* NCCL's initialisation's: seconds on NVSwitch machines */
  ncclUniqueId id;
  dpt_barrier barrier;
  nccl_rank *ranks;
  atomic_int abort_code;    /* != 0 once aborted; polled by every rank */
  pthread_mutex_t abort_mu; /* guards abort_msg */
  char abort_msg[DPT_ERR_MSG_MAX];
  dpt_comm_nccl_abort_fn on_abort; /* tells the other processes (dpt_comm_nccl_on_abort) */
  void *on_abort_ctx;
};

/* Marks the group (the first abort wins) and wakes the ranks waiting at the barrier; the first
 * abort, unless another process told of it (told), goes to the other processes through on_abort.
 * Touches no communicator, so any thread may call it. */
static void abort_group(dpt_comm_nccl *g, int code, const char *why, bool told)
{
  code = code ? code : DPT_EABORTED;
  why = why ? why : "comm nccl: aborted";
  pthread_mutex_lock(&g->abort_mu);
  if (!atomic_load(&g->abort_code)) {
    snprintf(g->abort_msg, sizeof g->abort_msg, "%s", why);
    atomic_store(&g->abort_code, code);
    if (!told && g->on_abort) g->on_abort(g->on_abort_ctx, code, why); /* it only records */
  }
  pthread_mutex_unlock(&g->abort_mu);
  dpt_barrier_abort(&g->barrier, code, why);
}

/* The group's abort as this rank's error: the first abort's code and message. */
static int aborted_error(dpt_comm_nccl *g, const char *op, dpt_err *err)
{
  pthread_mutex_lock(&g->abort_mu);
  int rc = dpt_err_set(err, atomic_load(&g->abort_code), "comm nccl: %s: %s", op, g->abort_msg);
  pthread_mutex_unlock(&g->abort_mu);
  return rc;
}

/* Ends this rank's communicator without waiting for its peers: ncclCommAbort blocks only until
 * this rank's own work is cancelled, even on a non-blocking communicator. */
static void abort_own(nccl_rank *r)
{
  if (!r->comm) return;
  (void)ncclCommAbort(r->comm);
  r->comm = NULL;
}

/* This rank failed (rc, described in why): stop the group so no peer waits on this rank, end
 * this rank's communicator, and report. */
static int fail_rank(nccl_rank *r, int rc, const dpt_err *why, dpt_err *err)
{
  abort_group(r->group, rc, why->msg, false);
  abort_own(r);
  return dpt_err_set(err, rc, "%s", why->msg);
}

/* Undoes attach: the communicator (aborted, unless detach finalized it) and the stream. */
static void release(nccl_rank *r)
{
  abort_own(r);
  /* cudaFree waits for the whole device, which a failed run may have left with a kernel that
   * never finishes (issue 13, section 3.5): after a failure the float is left to the process's
   * end. */
  if (!atomic_load(&r->group->abort_code)) (void)cudaFree(r->token);
  r->token = NULL;
  for (int i = 0; i < 2; i++)
    if (r->queued[i]) (void)cudaEventDestroy(r->queued[i]);
  r->queued[0] = r->queued[1] = NULL;
  if (r->stream && r->own_stream) (void)cudaStreamDestroy(r->stream);
  r->stream = NULL;
  r->attached = false;
}

/* Yields through the first millisecond, within which most collectives finish, then sleeps 50 us
 * between polls, so a long wait does not keep a core busy. */
static void pause_poll(double waited_s)
{
  if (waited_s < 1e-3) {
    sched_yield();
    return;
  }
  struct timespec ts = {.tv_sec = 0, .tv_nsec = 50 * 1000};
  nanosleep(&ts, NULL);
}

/* Sets *done when the rank's stream is drained. */
static int stream_done(nccl_rank *r, bool *done, dpt_err *err)
{
  cudaError_t e = cudaStreamQuery(r->stream);
  *done = e == cudaSuccess;
  if (e != cudaErrorNotReady) return DPT_CHECK_CUDA(e, err);
  /* "Not ready" is an answer, not an error: make sure it cannot linger in the thread's last-error
   * slot, where the next kernel launch's cudaGetLastError check would take it for a failure. */
  (void)cudaGetLastError();
  return DPT_OK;
}

/* Sets *done when the event's work is done. */
static int event_done(cudaEvent_t event, bool *done, dpt_err *err)
{
  cudaError_t e = cudaEventQuery(event);
  *done = e == cudaSuccess;
  if (e != cudaErrorNotReady) return DPT_CHECK_CUDA(e, err);
  (void)cudaGetLastError(); /* as in stream_done */
  return DPT_OK;
}

/* The communicator's asynchronous error as this rank's: the rank and NCCL's cause. */
static int comm_error(nccl_rank *r, const char *op, ncclResult_t state, dpt_err *err)
{
  return dpt_err_set(err, DPT_ECOMM, "comm nccl: %s: rank %d: %s (%s)", op,
                     r->group->first + r->rank, ncclGetErrorString(state),
                     ncclGetLastError(r->comm));
}

/* NCCL refuses a call on a communicator that has already failed with the bare text of that error
 * (rc, described in err): the communicator's own error says which rank and why. */
static int refused(nccl_rank *r, const char *op, int rc, dpt_err *err)
{
  ncclResult_t state = ncclSuccess;
  if (!rc || !r->comm || ncclCommGetAsyncError(r->comm, &state) != ncclSuccess ||
      state == ncclSuccess || state == ncclInProgress)
    return rc;
  *err = (dpt_err){0}; /* replaced, not kept as the first error */
  return comm_error(r, op, state, err);
}

/* Polls until the rank's NCCL work is done: the communicator's state leaves ncclInProgress and,
 * when `stream`, the stream is drained, or, when `event`, that event's work is done. Fails on an
 * NCCL or CUDA error, the group's abort or the deadline, timeout_s seconds (<= 0: none). */
static int wait_until(nccl_rank *r, const char *op, bool stream, cudaEvent_t event,
                      double timeout_s, dpt_err *err)
{
  dpt_comm_nccl *g = r->group;
  double t0 = dpt_now();
  for (;;) {
    ncclResult_t state = ncclSuccess;
    int rc = DPT_CHECK_NCCL(ncclCommGetAsyncError(r->comm, &state), err);
    if (!rc && state != ncclSuccess && state != ncclInProgress)
      rc = comm_error(r, op, state, err);
    bool done = !rc && state == ncclSuccess;
    if (done && stream) rc = stream_done(r, &done, err);
    dpt_err device = {0};
    if (done && event && (rc = event_done(event, &done, &device)))
      return dpt_err_set(err, rc, "comm nccl: %s: rank %d: %s", op, g->first + r->rank,
                         device.msg);
    if (rc) return rc;
    if (done) return DPT_OK;
    if (atomic_load(&g->abort_code)) return aborted_error(g, op, err);
    double waited = dpt_now() - t0;
    if (timeout_s > 0 && waited > timeout_s)
      return dpt_err_set(err, DPT_ETIMEOUT,
                         "comm nccl: %s: rank %d: not done after %.1f s: a peer stalled or failed",
                         op, g->first + r->rank, waited);
    pause_poll(waited);
  }
}

static int wait_done(nccl_rank *r, const char *op, bool stream, double timeout_s, dpt_err *err)
{
  return wait_until(r, op, stream, NULL, timeout_s, err);
}

/* The start of every call: the rank is attached and all ranks arrived (or the group aborted). */
static int meet(nccl_rank *r, const char *op, dpt_err *why)
{
  dpt_comm_nccl *g = r->group;
  if (!r->comm) {
    if (atomic_load(&g->abort_code)) return aborted_error(g, op, why);
    return dpt_err_set(why, DPT_EINTERNAL, "comm nccl: %s: rank %d is not attached", op, r->rank);
  }
  dpt_err barrier_err = {0};
  double t0 = dpt_now();
  int rc = dpt_barrier_wait(&g->barrier, r->rank, &barrier_err);
  r->last_wait_s = dpt_now() - t0;
  if (rc) return dpt_err_set(why, rc, "comm nccl: %s: %s", op, barrier_err.msg);
  return DPT_OK;
}

/* The end of every call: waits for the queued work, or fails the rank. */
static int finish(nccl_rank *r, const char *op, int rc, dpt_err *why, dpt_err *err)
{
  rc = refused(r, op, rc, why);
  if (!rc) rc = wait_done(r, op, true, r->group->timeout_s, why);
  return rc ? fail_rank(r, rc, why, err) : DPT_OK;
}

static int nccl_allreduce_sum(void *ctx, float *buf, size_t n, dpt_err *err)
{
  nccl_rank *r = ctx;
  dpt_err why = {0};
  int rc = meet(r, "allreduce", &why);
  if (!rc)
    rc = DPT_CHECK_NCCL(ncclAllReduce(buf, buf, n, ncclFloat, ncclSum, r->comm, r->stream), &why);
  return finish(r, "allreduce", rc, &why, err);
}

/* No host barrier: a rank that failed before its call stops the others through the group's abort,
 * which every wait polls. */
static int nccl_allreduce_sum_queued(void *ctx, float *buf, size_t n, bool wait_previous,
                                     dpt_err *err)
{
  nccl_rank *r = ctx;
  dpt_comm_nccl *g = r->group;
  dpt_err why = {0};
  int rc = DPT_OK;
  ncclResult_t sent = ncclSuccess;
  if (atomic_load(&g->abort_code))
    rc = aborted_error(g, "allreduce", &why);
  else if (!r->comm)
    rc = dpt_err_set(&why, DPT_EINTERNAL, "comm nccl: allreduce: rank %d is not attached",
                     g->first + r->rank);
  if (!rc)
    rc = refused(r, "allreduce",
                 DPT_CHECK_NCCL(sent = ncclAllReduce(buf, buf, n, ncclFloat, ncclSum, r->comm,
                                                     r->stream),
                                &why),
                 &why);
  /* A non-blocking communicator may still be queueing the call: the event must come after it. */
  if (!rc) rc = wait_done(r, "allreduce", false, g->timeout_s, &why);
  cudaEvent_t mine = r->queued[r->queued_calls % 2];
  if (!rc) rc = DPT_CHECK_CUDA(cudaEventRecord(mine, r->stream), &why);
  double t0 = dpt_now();
  if (!rc && r->queued_calls > 0 && wait_previous)
    rc = wait_until(r, "allreduce", false, r->queued[(r->queued_calls - 1) % 2], g->timeout_s,
                    &why);
  r->last_wait_s = dpt_now() - t0;
  r->queued_calls++;
  /* A peer's failure may reach this rank, as NCCL's remote error, before the peer has recorded
   * its own error in the group: wait for that record, briefly, since it says what happened. */
  for (double since = dpt_now(); sent == ncclRemoteError && !atomic_load(&g->abort_code) &&
                                 dpt_now() - since < REMOTE_CAUSE_WAIT_S;)
    dpt_sleep(1e-3);
  if (rc && atomic_load(&g->abort_code)) rc = aborted_error(g, "allreduce", &why);
  return rc ? fail_rank(r, rc, &why, err) : DPT_OK;
}

/* Waits for everything queued on the stream so far, the last queued sum included, by the event
 * the next queued sum would have recorded (it waits for this one's work before it records). */
static int nccl_settle(void *ctx, dpt_err *err)
{
  nccl_rank *r = ctx;
  dpt_err why = {0};
  if (!r->comm) return aborted_error(r->group, "allreduce", err);
  cudaEvent_t all = r->queued[r->queued_calls % 2];
  int rc = DPT_CHECK_CUDA(cudaEventRecord(all, r->stream), &why);
  if (!rc) rc = wait_until(r, "allreduce", false, all, r->group->timeout_s, &why);
  return rc ? fail_rank(r, rc, &why, err) : DPT_OK;
}

static int nccl_broadcast(void *ctx, float *buf, size_t n, int root, dpt_err *err)
{
  nccl_rank *r = ctx;
  dpt_err why = {0};
  int rc = root >= 0 && root < r->group->total
               ? meet(r, "broadcast", &why)
               : dpt_err_set(&why, DPT_EINTERNAL, "comm nccl: broadcast: root %d outside 0..%d",
                             root, r->group->total - 1);
  if (!rc)
    rc = DPT_CHECK_NCCL(ncclBroadcast(buf, buf, n, ncclFloat, root, r->comm, r->stream), &why);
  return finish(r, "broadcast", rc, &why, err);
}

/* The host barrier meets only this process's ranks: an allreduce of one float meets every
 * process's, and returns once all have arrived. */
static int nccl_barrier(void *ctx, dpt_err *err)
{
  nccl_rank *r = ctx;
  dpt_err why = {0};
  int rc = meet(r, "barrier", &why);
  if (!rc)
    rc = DPT_CHECK_NCCL(
        ncclAllReduce(r->token, r->token, 1, ncclFloat, ncclSum, r->comm, r->stream), &why);
  return finish(r, "barrier", rc, &why, err);
}

static void nccl_abort(void *ctx, int code, const char *why)
{
  nccl_rank *r = ctx;
  abort_group(r->group, code, why, false);
}

void dpt_comm_nccl_on_abort(dpt_comm_nccl *g, dpt_comm_nccl_abort_fn fn, void *ctx)
{
  pthread_mutex_lock(&g->abort_mu);
  g->on_abort = fn;
  g->on_abort_ctx = ctx;
  pthread_mutex_unlock(&g->abort_mu);
}

void dpt_comm_nccl_abort_told(dpt_comm_nccl *g, int code, const char *why)
{
  abort_group(g, code, why, true);
}

/* NCCL may pick a tree instead of the ring; it moves about as much. */
static size_t nccl_allreduce_bytes(void *ctx, size_t n)
{
  const nccl_rank *r = ctx;
  return dpt_comm_ring_allreduce_bytes(r->group->total, n);
}

static const dpt_comm_ops nccl_ops = {
    .name = "nccl",
    .allreduce_sum = nccl_allreduce_sum,
    .allreduce_sum_queued = nccl_allreduce_sum_queued,
    .settle = nccl_settle,
    .broadcast = nccl_broadcast,
    .barrier = nccl_barrier,
    .abort = nccl_abort,
    .allreduce_bytes = nccl_allreduce_bytes,
};

static void free_group(dpt_comm_nccl *g)
{
  pthread_mutex_destroy(&g->abort_mu);
  free(g->ranks);
  free(g);
}

int dpt_comm_nccl_make_id(unsigned char id[DPT_COMM_NCCL_ID_BYTES], dpt_err *err)
{
  ncclUniqueId made;
  int rc = DPT_CHECK_NCCL(ncclGetUniqueId(&made), err);
  if (!rc) memcpy(id, made.internal, DPT_COMM_NCCL_ID_BYTES);
  return rc;
}

int dpt_comm_nccl_create(int size, double timeout_s, dpt_comm_nccl **out, dpt_err *err)
{
  *out = NULL;
  unsigned char id[DPT_COMM_NCCL_ID_BYTES] = {0};
  int rc = size < 1 ? DPT_OK : dpt_comm_nccl_make_id(id, err);
  return rc ? rc : dpt_comm_nccl_create_span(size, 0, size, id, timeout_s, out, err);
}

int dpt_comm_nccl_create_span(int size, int first, int total,
                              const unsigned char id[DPT_COMM_NCCL_ID_BYTES], double timeout_s,
                              dpt_comm_nccl **out, dpt_err *err)
{
  *out = NULL;
  if (size < 1) return dpt_err_set(err, DPT_EINPUT, "comm nccl: %d ranks: need at least 1", size);
  if (first < 0 || total < first + size)
    return dpt_err_set(err, DPT_EINTERNAL, "comm nccl: ranks %d..%d outside a group of %d", first,
                       first + size - 1, total);
  dpt_comm_nccl *g = calloc(1, sizeof *g);
  nccl_rank *ranks = dpt_cache_lines_alloc((size_t)size, sizeof *ranks);
  if (!g || !ranks) {
    free(g);
    free(ranks);
    return dpt_err_set(err, DPT_ENOMEM, "comm nccl: out of memory for %d ranks", size);
  }
  pthread_mutex_init(&g->abort_mu, NULL);
  atomic_init(&g->abort_code, 0);
  g->ranks = ranks;
  g->size = size;
  g->first = first;
  g->total = total;
  g->timeout_s = g->init_timeout_s = timeout_s;
  memcpy(g->id.internal, id, DPT_COMM_NCCL_ID_BYTES);
  for (int r = 0; r < size; r++) ranks[r] = (nccl_rank){.rank = r, .ordinal = -1, .group = g};
  int rc = dpt_barrier_init(&g->barrier, size, timeout_s, err);
  if (rc) {
    free_group(g);
    return rc;
  }
  *out = g;
  return DPT_OK;
}

dpt_comm dpt_comm_nccl_rank(dpt_comm_nccl *g, int rank)
{
  return (dpt_comm){.vt = &nccl_ops, .ctx = &g->ranks[rank], .rank = g->first + rank,
                    .size = g->total};
}

/* All ranks, of every process, must attach at about the same time: NCCL's init waits for every
 * rank (bounded here by the deadline and the abort flag, like any wait). */
int dpt_comm_nccl_attach(dpt_comm_nccl *g, int rank, int cuda_ordinal, dpt_err *err)
{
  return dpt_comm_nccl_attach_on(g, rank, cuda_ordinal, NULL, err);
}

int dpt_comm_nccl_attach_on(dpt_comm_nccl *g, int rank, int cuda_ordinal, void *device_stream,
                            dpt_err *err)
{
  if (rank < 0 || rank >= g->size || g->ranks[rank].attached)
    return dpt_err_set(err, DPT_EINTERNAL, "comm nccl: rank %d: unknown or attached twice", rank);
  nccl_rank *r = &g->ranks[rank];
  if (atomic_load(&g->abort_code)) return aborted_error(g, "init", err);
  r->attached = true;
  r->ordinal = cuda_ordinal;
  dpt_err why = {0};
  /* The device the worker opened on this thread already; set again so NCCL binds the rank to the
   * GPU named here whatever the thread did since. */
  int rc = DPT_CHECK_CUDA(cudaSetDevice(cuda_ordinal), &why);
  r->own_stream = !device_stream;
  r->stream = device_stream;
  if (!rc && r->own_stream)
    rc = DPT_CHECK_CUDA(cudaStreamCreateWithFlags(&r->stream, cudaStreamNonBlocking), &why);
  for (int i = 0; i < 2 && !rc; i++)
    rc = DPT_CHECK_CUDA(cudaEventCreateWithFlags(&r->queued[i], cudaEventDisableTiming), &why);
  if (!rc) rc = DPT_CHECK_CUDA(cudaMalloc((void **)&r->token, sizeof *r->token), &why);
  if (!rc) {
    ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
    config.blocking = 0;
    ncclComm_t comm = NULL;
    rc = DPT_CHECK_NCCL(ncclCommInitRankConfig(&comm, g->total, g->id, g->first + rank, &config),
                        &why);
    r->comm = rc ? NULL : comm; /* a refused call need not have made a communicator */
  }
  if (!rc) rc = wait_done(r, "init", false, g->init_timeout_s, &why);
  if (!rc) return DPT_OK;
  rc = fail_rank(r, rc, &why, err);
  release(r);
  return rc;
}

/* Errors here have no one to go to (the run is over or already failed): a communicator that
 * cannot be finalized in time is aborted instead. */
void dpt_comm_nccl_detach(dpt_comm_nccl *g, int rank)
{
  if (rank < 0 || rank >= g->size || !g->ranks[rank].attached) return;
  nccl_rank *r = &g->ranks[rank];
  (void)cudaSetDevice(r->ordinal);
  if (r->comm && !atomic_load(&g->abort_code)) {
    dpt_err why = {0};
    int rc = DPT_CHECK_NCCL(ncclCommFinalize(r->comm), &why);
    if (!rc) rc = wait_done(r, "finalize", false, g->timeout_s, &why);
    if (!rc) {
      (void)ncclCommDestroy(r->comm);
      r->comm = NULL;
    }
  }
  release(r);
}

void dpt_comm_nccl_set_init_timeout(dpt_comm_nccl *g, double init_timeout_s)
{
  g->init_timeout_s = init_timeout_s;
}

double dpt_comm_nccl_last_wait_s(const dpt_comm_nccl *g, int rank)
{
  return g->ranks[rank].last_wait_s;
}

void dpt_comm_nccl_destroy(dpt_comm_nccl *g)
{
  if (!g) return;
  dpt_barrier_destroy(&g->barrier);
  free_group(g);
}
