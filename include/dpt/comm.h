/* A communicator as each worker sees it: one handle per worker (rank), one table per backend
 * (in-process threads, NCCL, MPI). Callers use the dpt_comm_* wrappers. Buffers are device
 * pointers of the worker's device. Every call can be woken by abort and times out. */
#ifndef DPT_COMM_H
#define DPT_COMM_H

#include <stdbool.h>
#include <stddef.h>

#include "dpt/status.h"

typedef struct dpt_comm_ops {
  const char *name;
  /* buf[0..n) = sum over ranks of buf, summed in rank order 0, 1, ..., size-1 (reproducible). */
  int (*allreduce_sum)(void *ctx, float *buf, size_t n, dpt_err *err);
  /* The same sum queued behind the work already queued on the rank's device, with no host barrier:
   * it returns once the sum queued by the rank's previous call of it is done (so at most one is in
   * flight, and a failure or a stalled peer surfaces there, within the deadline), or at once with
   * wait_previous false, for a caller that settles (below) before the next call. The device's
   * later work may read buf; the host only after waiting for the device. NULL: the backend's
   * devices run synchronously, and allreduce_sum does it. */
  int (*allreduce_sum_queued)(void *ctx, float *buf, size_t n, bool wait_previous, dpt_err *err);
  /* Returns once the work queued on the rank's device so far is done, the rank's last queued sum
   * included, or fails as its waits do (abort, a peer's error, the deadline): a wait for the
   * device after it cannot hang on a dead peer. NULL: nothing is ever left queued. */
  int (*settle)(void *ctx, dpt_err *err);
  int (*broadcast)(void *ctx, float *buf, size_t n, int root, dpt_err *err);
  int (*barrier)(void *ctx, dpt_err *err);
  /* Wakes every rank's pending and future calls with an error. Callable from any thread. */
  void (*abort)(void *ctx, int code, const char *why);
  /* Bytes this rank sends and receives in one allreduce of n floats (for reports). */
  size_t (*allreduce_bytes)(void *ctx, size_t n);
} dpt_comm_ops;

typedef struct dpt_comm {
  const dpt_comm_ops *vt;
  void *ctx;
  int rank;
  int size;
} dpt_comm;

/* The ring's count, as nccl-tests' busbw: each of `size` ranks sends and receives 2(size-1)/size of
 * an allreduce of n floats; 0 for a single rank. Backends report it as allreduce_bytes. */
size_t dpt_comm_ring_allreduce_bytes(int size, size_t n);

int dpt_comm_allreduce_sum(dpt_comm *c, float *buf, size_t n, dpt_err *err);
int dpt_comm_allreduce_sum_queued(dpt_comm *c, float *buf, size_t n, bool wait_previous,
                                  dpt_err *err);
int dpt_comm_settle(dpt_comm *c, dpt_err *err);
int dpt_comm_broadcast(dpt_comm *c, float *buf, size_t n, int root, dpt_err *err);
int dpt_comm_barrier(dpt_comm *c, dpt_err *err);
void dpt_comm_abort(dpt_comm *c, int code, const char *why);
size_t dpt_comm_allreduce_bytes(dpt_comm *c, size_t n);

/* --- the in-process backend: threads of one process over shared host memory --- */
typedef struct dpt_comm_threads dpt_comm_threads;

/* A group of `size` ranks; timeout_s bounds every wait (<= 0: none). */
int dpt_comm_threads_create(int size, double timeout_s, dpt_comm_threads **out, dpt_err *err);
/* The handle of one rank; valid until the group is destroyed. */
dpt_comm dpt_comm_threads_rank(dpt_comm_threads *g, int rank);
void dpt_comm_threads_destroy(dpt_comm_threads *g);

#endif
