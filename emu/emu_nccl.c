/* The emulator's NCCL: unique ids, communicators across the threads and processes of the machine
 * (they meet in the clique of emu_nccl_clique.c), their non-blocking life (ncclCommInitRankConfig
 * returns ncclInProgress until every rank has joined; ncclCommGetAsyncError tells), finalize,
 * destroy and abort, errors and versions. The collectives are in emu_nccl_collective.c. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "emu/emu_nccl.h"

static _Thread_local char last_error[256]; /* errors with no communicator */

static const char id_magic[8] = "dptemu1";

/* Unique on the machine: the process, a count, and the time (against a reused pid). */
typedef struct id_body {
  char magic[8];
  pid_t pid;
  uint64_t serial;
  double made_at;
} id_body;

ncclResult_t ncclGetUniqueId(ncclUniqueId *uniqueId)
{
  if (!uniqueId) return ncclInvalidArgument;
  static atomic_uint_fast64_t serial;
  id_body b = {.pid = getpid(), .serial = atomic_fetch_add(&serial, 1) + 1, .made_at = emu_now()};
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

/* Moves an initialising communicator on once every rank has joined: ncclSuccess, or the
 * duplicate device. */
static void check_init(struct ncclComm *c)
{
  if (atomic_load(&c->state) != ncclInProgress) return;
  int dup_a, dup_b, device;
  if (!emu_clique_ready(c->clique, &dup_a, &dup_b, &device)) return;
  if (dup_a >= 0) {
    emu_comm_fail(c, ncclInvalidUsage,
                  "Duplicate GPU detected : rank %d and rank %d both on CUDA device %d", dup_a,
                  dup_b, device);
    return;
  }
  int in_progress = ncclInProgress;
  atomic_compare_exchange_strong(&c->state, &in_progress, ncclSuccess);
}

static void wait_init(struct ncclComm *c)
{
  double t0 = emu_now();
  struct timespec tick = {.tv_sec = 0, .tv_nsec = 1000000L};
  for (check_init(c); atomic_load(&c->state) == ncclInProgress; check_init(c)) {
    if (atomic_load(&c->aborted) || emu_now() - t0 > emu_wait_limit_s()) {
      emu_comm_fail(c, ncclSystemError, "init: not every rank joined in time");
      return;
    }
    nanosleep(&tick, NULL);
  }
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
  struct ncclComm *c = calloc(1, sizeof *c);
  if (!c) return ncclSystemError;
  c->rank = rank;
  c->device = dev;
  c->blocking = !config || config->blocking == NCCL_CONFIG_UNDEF_INT || config->blocking != 0;
  atomic_init(&c->refs, 1);
  atomic_init(&c->state, ncclInProgress);
  pthread_mutex_init(&c->err_mu, NULL);
  ncclResult_t rc = ncclSuccess;
  c->nranks = nranks;
  c->clique = emu_clique_join(&commId, nranks, rank, dev, &rc);
  if (!c->clique) {
    set_last_error("ncclCommInitRankConfig: the rank is taken, nranks differs from the other "
                   "ranks', or the clique's shared memory cannot be made");
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
  check_init(comm);
  ncclResult_t s = (ncclResult_t)atomic_load(&comm->state);
  if (s == ncclSuccess && atomic_load(&comm->finalizing) && atomic_load(&comm->outstanding) > 0)
    s = ncclInProgress;
  *asyncError = s;
  return ncclSuccess;
}

void emu_comm_release(struct ncclComm *c)
{
  if (atomic_fetch_sub(&c->refs, 1) != 1) return;
  emu_clique_leave(c->clique, c->rank);
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

/* NCCL frees what the ranks of a node share only once all of them have aborted (NVIDIA/nccl
 * issue 863: "within a node, you need all ranks to abort"), so an abort returns when every rank
 * that joined has aborted or left; the rank's queued collectives are dropped when they come up,
 * and its peers' waits are woken (they wait on until they abort too). After the wait limit it
 * returns ncclSystemError. */
ncclResult_t ncclCommAbort(ncclComm_t comm)
{
  if (!comm) return ncclSuccess;
  atomic_store(&comm->aborted, true);
  emu_clique_wake(comm->clique);
  bool all_out = emu_clique_abort(comm->clique, comm->rank);
  emu_comm_release(comm);
  return all_out ? ncclSuccess : ncclSystemError;
}

ncclResult_t ncclCommCount(const ncclComm_t comm, int *count)
{
  if (!comm || !count) return ncclInvalidArgument;
  *count = comm->nranks;
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
