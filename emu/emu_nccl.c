/* The emulator's NCCL: unique ids, communicators across the threads of one
 * process, their non-blocking life (ncclCommInitRankConfig returns
 * ncclInProgress until every rank has joined; ncclCommGetAsyncError tells),
 * finalize, destroy and abort, errors and versions. The collectives are in
 * emu_nccl_collective.c. Not emulated: communicators across processes (an id
 * made by another process is refused with ncclInvalidUsage, not waited for). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "emu/emu_nccl.h"

static pthread_mutex_t registry_mu = PTHREAD_MUTEX_INITIALIZER;
static emu_clique *registry;
static _Thread_local char last_error[256]; /* errors with no communicator */

static const char id_magic[8] = "dptemu1";

typedef struct id_body {
  char magic[8];
  pid_t pid;
  uint64_t serial;
} id_body;

ncclResult_t ncclGetUniqueId(ncclUniqueId *uniqueId)
{
  if (!uniqueId) return ncclInvalidArgument;
  static atomic_uint_fast64_t serial;
  id_body b = {.pid = getpid(), .serial = atomic_fetch_add(&serial, 1) + 1};
  memcpy(b.magic, id_magic, sizeof b.magic);
  memset(uniqueId, 0, sizeof *uniqueId);
  memcpy(uniqueId->internal, &b, sizeof b);
  return ncclSuccess;
}

/* The message is written before the state is published: a host that sees the error finds it. */
void emu_comm_fail(struct ncclComm *c, ncclResult_t why, const char *fmt, ...)
{
  pthread_mutex_lock(&c->err_mu);
  int state = atomic_load(&c->state);
  if (state == ncclSuccess || state == ncclInProgress) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->last_error, sizeof c->last_error, fmt, ap);
    va_end(ap);
    atomic_store(&c->state, (int)why);
  }
  pthread_mutex_unlock(&c->err_mu);
}

static void set_last_error(const char *msg) { snprintf(last_error, sizeof last_error, "%s", msg); }

/* The clique of id in this process, made when first asked for (registry_mu
 * held). */
static emu_clique *clique_for(const ncclUniqueId *id, int nranks)
{
  for (emu_clique *q = registry; q; q = q->next)
    if (!memcmp(&q->id, id, sizeof *id)) return q;
  emu_clique *q = calloc(1, sizeof *q);
  struct ncclComm **ranks = calloc((size_t)nranks, sizeof *ranks);
  if (!q || !ranks) {
    free(q);
    free(ranks);
    return NULL;
  }
  q->id = *id;
  q->nranks = nranks;
  q->ranks = ranks;
  pthread_mutex_init(&q->mu, NULL);
  emu_cond_init(&q->cv);
  q->next = registry;
  registry = q;
  return q;
}

/* The last rank in: every rank's init ends, failing all when two share a device
 * (clique mu held). */
static void complete_init(emu_clique *q)
{
  int dup_a = -1, dup_b = -1;
  for (int a = 0; a < q->nranks && dup_a < 0; a++)
    for (int b = a + 1; b < q->nranks; b++)
      if (q->ranks[a] && q->ranks[b] && q->ranks[a]->device == q->ranks[b]->device) {
        dup_a = a;
        dup_b = b;
        break;
      }
  for (int r = 0; r < q->nranks; r++) {
    struct ncclComm *c = q->ranks[r];
    if (!c) continue;
    if (dup_a >= 0)
      emu_comm_fail(c, ncclInvalidUsage,
                    "Duplicate GPU detected : rank %d and rank %d both on CUDA device %d", dup_a,
                    dup_b, q->ranks[dup_a]->device);
    else {
      int in_progress = ncclInProgress;
      atomic_compare_exchange_strong(&c->state, &in_progress, ncclSuccess);
    }
  }
  q->init_done = true;
  pthread_cond_broadcast(&q->cv);
}

static bool made_here(const ncclUniqueId *id)
{
  id_body b;
  memcpy(&b, id->internal, sizeof b);
  return !memcmp(b.magic, id_magic, sizeof b.magic) && b.pid == getpid();
}

/* Joins the clique: the rank must be free and nranks must match the other
 * ranks'. */
static ncclResult_t join(struct ncclComm *c, const ncclUniqueId *id, int nranks)
{
  pthread_mutex_lock(&registry_mu);
  emu_clique *q = clique_for(id, nranks);
  ncclResult_t rc = ncclSuccess;
  if (!q) {
    rc = ncclSystemError;
  } else {
    pthread_mutex_lock(&q->mu);
    if (q->nranks != nranks || q->ranks[c->rank] || q->init_done) {
      rc = ncclInvalidUsage;
    } else {
      q->ranks[c->rank] = c;
      q->joined++;
      q->live++;
      c->clique = q;
      if (q->joined == q->nranks) complete_init(q);
    }
    pthread_mutex_unlock(&q->mu);
  }
  pthread_mutex_unlock(&registry_mu);
  return rc;
}

static void wait_init(struct ncclComm *c)
{
  emu_clique *q = c->clique;
  double t0 = emu_now();
  pthread_mutex_lock(&q->mu);
  while (!q->init_done && !atomic_load(&c->aborted) && emu_now() - t0 <= emu_wait_limit_s())
    emu_cond_poll(&q->cv, &q->mu);
  pthread_mutex_unlock(&q->mu);
  if (!q->init_done) emu_comm_fail(c, ncclSystemError, "init: not every rank joined in time");
}

ncclResult_t ncclCommInitRankConfig(ncclComm_t *comm, int nranks, ncclUniqueId commId, int rank,
                                    ncclConfig_t *config)
{
  if (!comm || nranks < 1 || rank < 0 || rank >= nranks) {
    set_last_error("ncclCommInitRankConfig: invalid arguments");
    return ncclInvalidArgument;
  }
  *comm = NULL;
  int dev = emu_current_physical();
  if (dev < 0) {
    set_last_error("ncclCommInitRankConfig: no CUDA device");
    return ncclUnhandledCudaError;
  }
  if (!made_here(&commId)) {
    set_last_error("the emulator's NCCL does not span processes: the unique id "
                   "was made elsewhere");
    return ncclInvalidUsage;
  }
  struct ncclComm *c = calloc(1, sizeof *c);
  if (!c) return ncclSystemError;
  c->rank = rank;
  c->device = dev;
  c->blocking = !config || config->blocking == NCCL_CONFIG_UNDEF_INT || config->blocking != 0;
  atomic_init(&c->refs, 1);
  atomic_init(&c->state, ncclInProgress);
  pthread_mutex_init(&c->err_mu, NULL);
  ncclResult_t rc = join(c, &commId, nranks);
  if (rc != ncclSuccess) {
    set_last_error("ncclCommInitRankConfig: rank taken, nranks differs, or the "
                   "clique is complete");
    pthread_mutex_destroy(&c->err_mu);
    free(c);
    return rc;
  }
  *comm = c;
  if (!c->blocking) return ncclInProgress;
  wait_init(c);
  return (ncclResult_t)atomic_load(&c->state);
}

ncclResult_t ncclCommInitRank(ncclComm_t *comm, int nranks, ncclUniqueId commId, int rank)
{
  return ncclCommInitRankConfig(comm, nranks, commId, rank, NULL);
}

ncclResult_t ncclCommGetAsyncError(ncclComm_t comm, ncclResult_t *asyncError)
{
  if (!comm || !asyncError) return ncclInvalidArgument;
  ncclResult_t s = (ncclResult_t)atomic_load(&comm->state);
  if (s == ncclSuccess && atomic_load(&comm->finalizing) && atomic_load(&comm->outstanding) > 0)
    s = ncclInProgress;
  *asyncError = s;
  return ncclSuccess;
}

/* Leaves the clique and frees it with its last communicator. */
static void leave(struct ncclComm *c)
{
  emu_clique *q = c->clique;
  pthread_mutex_lock(&registry_mu);
  pthread_mutex_lock(&q->mu);
  q->ranks[c->rank] = NULL;
  bool last = --q->live == 0;
  pthread_mutex_unlock(&q->mu);
  if (last) {
    emu_clique **p = &registry;
    while (*p != q) p = &(*p)->next;
    *p = q->next;
  }
  pthread_mutex_unlock(&registry_mu);
  if (!last) return;
  /* Slots left by ranks that aborted mid-collective: nobody waits in them any
   * more. */
  while (q->slots) {
    emu_slot *next = q->slots->next;
    free(q->slots);
    q->slots = next;
  }
  pthread_mutex_destroy(&q->mu);
  pthread_cond_destroy(&q->cv);
  free(q->ranks);
  free(q);
}

void emu_comm_release(struct ncclComm *c)
{
  if (atomic_fetch_sub(&c->refs, 1) != 1) return;
  leave(c);
  pthread_mutex_destroy(&c->err_mu);
  free(c);
}

/* Blocking: waits (bounded) for the queued collectives; non-blocking: returns
 * ncclInProgress and ncclCommGetAsyncError says ncclSuccess once they have run.
 */
ncclResult_t ncclCommFinalize(ncclComm_t comm)
{
  if (!comm) return ncclInvalidArgument;
  atomic_store(&comm->finalizing, true);
  if (!comm->blocking) return ncclInProgress;
  double t0 = emu_now();
  struct timespec tick = {.tv_sec = 0, .tv_nsec = 1000000L};
  while (atomic_load(&comm->outstanding) > 0 && emu_now() - t0 <= emu_wait_limit_s())
    nanosleep(&tick, NULL);
  return atomic_load(&comm->outstanding) > 0 ? ncclSystemError : ncclSuccess;
}

ncclResult_t ncclCommDestroy(ncclComm_t comm)
{
  if (!comm) return ncclInvalidArgument;
  emu_comm_release(comm);
  return ncclSuccess;
}

/* Returns at once: the rank's queued collectives are dropped when they come up,
 * and its peers' waits are woken (they wait on until they abort too, as with
 * NCCL). */
ncclResult_t ncclCommAbort(ncclComm_t comm)
{
  if (!comm) return ncclSuccess;
  atomic_store(&comm->aborted, true);
  emu_clique *q = comm->clique;
  pthread_mutex_lock(&q->mu);
  pthread_cond_broadcast(&q->cv);
  pthread_mutex_unlock(&q->mu);
  emu_comm_release(comm);
  return ncclSuccess;
}

ncclResult_t ncclCommCount(const ncclComm_t comm, int *count)
{
  if (!comm || !count) return ncclInvalidArgument;
  *count = comm->clique->nranks;
  return ncclSuccess;
}

ncclResult_t ncclCommUserRank(const ncclComm_t comm, int *rank)
{
  if (!comm || !rank) return ncclInvalidArgument;
  *rank = comm->rank;
  return ncclSuccess;
}

const char *ncclGetLastError(ncclComm_t comm) { return comm ? comm->last_error : last_error; }

const char *ncclGetErrorString(ncclResult_t result)
{
  switch (result) {
  case ncclSuccess: return "no error";
  case ncclUnhandledCudaError: return "unhandled cuda error (run with NCCL_DEBUG=INFO for details)";
  case ncclSystemError: return "unhandled system error (run with NCCL_DEBUG=INFO for details)";
  case ncclInternalError: return "internal error - please report this issue to the NCCL developers";
  case ncclInvalidArgument: return "invalid argument (run with NCCL_DEBUG=WARN for details)";
  case ncclInvalidUsage: return "invalid usage (run with NCCL_DEBUG=WARN for details)";
  case ncclRemoteError: return "remote process exited or there was a network error";
  case ncclInProgress: return "NCCL operation in progress";
  default: return "unknown result code";
  }
}

ncclResult_t ncclGetVersion(int *version)
{
  if (!version) return ncclInvalidArgument;
  *version = NCCL_VERSION_CODE;
  return ncclSuccess;
}
