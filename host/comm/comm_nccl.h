/* Private to host/: the NCCL communicator, for workers on CUDA devices (one process, one thread
 * and one GPU per rank). Buffers are device pointers on the rank's GPU.
 *
 * Life of a group:
 *   dpt_comm_nccl_create      once, any thread: ncclGetUniqueId (or, over MPI processes,
 *                             dpt_comm_nccl_create_span with the id process 0 made)
 *   dpt_comm_nccl_rank        the rank's dpt_comm handle; usable at once (abort works before
 *                             attach), its collectives only after attach
 *   dpt_comm_nccl_attach      from the rank's own thread, all ranks at about the same time:
 *                             cudaSetDevice, a stream, ncclCommInitRankConfig (non-blocking)
 *   ... collectives ...       from the rank's own thread only
 *   dpt_comm_nccl_detach      from the rank's own thread: finalize and destroy, or abort
 *   dpt_comm_nccl_destroy     once every rank detached
 *
 * A collective runs on the rank's own stream, not the device's: the caller must have waited for
 * the device work that wrote buf (dpt_dev_sync) before the call, and on return buf holds the
 * result (the stream was waited for), so the device's later work may read it.
 *
 * Differences from the in-process communicator (dpt/comm.h):
 *  - allreduce_sum does NOT sum in rank order: NCCL's ring and tree algorithms add in an order of
 *    their own that depends on the rank count, the message size and the algorithm NCCL picks. The
 *    sum is the same up to float rounding, but not bit-identical to the fixed-order sum the
 *    in-process communicator and the parameter server compute.
 *  - every wait is bounded (timeout_s) and abortable, but by polling: the communicator is
 *    non-blocking, and the calling thread polls the stream, ncclCommGetAsyncError, the group's
 *    abort flag and the deadline. */
#ifndef DPT_HOST_COMM_COMM_NCCL_H
#define DPT_HOST_COMM_COMM_NCCL_H

#include "dpt/comm.h"

typedef struct dpt_comm_nccl dpt_comm_nccl;

/* A group of `size` ranks; timeout_s bounds every wait (<= 0: none), NCCL's initialisation's
 * too unless dpt_comm_nccl_set_init_timeout says otherwise. Without NCCL in the build:
 * DPT_EINPUT. */
int dpt_comm_nccl_create(int size, double timeout_s, dpt_comm_nccl **out, dpt_err *err);

/* The bytes of an NCCL unique id (ncclUniqueId): what the processes of one group share. */
enum { DPT_COMM_NCCL_ID_BYTES = 128 };

/* A fresh id (ncclGetUniqueId; no GPU needed), made by one process and sent to the others.
 * Without NCCL in the build: DPT_EINPUT. */
int dpt_comm_nccl_make_id(unsigned char id[DPT_COMM_NCCL_ID_BYTES], dpt_err *err);

/* This process's share of a group spanning several processes: its `size` ranks are the group's
 * ranks first..first+size-1 of `total`, and every process passes the same id. The handles' rank
 * and size count every process's ranks; `rank` arguments here stay this process's (0..size-1),
 * and the host barrier each call starts at meets this process's ranks only (NCCL meets the
 * rest). dpt_comm_nccl_create(size) is the span 0..size-1 of size with a fresh id. */
int dpt_comm_nccl_create_span(int size, int first, int total,
                              const unsigned char id[DPT_COMM_NCCL_ID_BYTES], double timeout_s,
                              dpt_comm_nccl **out, dpt_err *err);
/* NCCL's initialisation (attach) has a deadline of its own, init_timeout_s (<= 0: none; until
 * set: the group's timeout_s): it can take seconds on NVSwitch machines, longer than a
 * collective should. Set before any rank attaches. */
void dpt_comm_nccl_set_init_timeout(dpt_comm_nccl *g, double init_timeout_s);
dpt_comm dpt_comm_nccl_rank(dpt_comm_nccl *g, int rank);
int dpt_comm_nccl_attach(dpt_comm_nccl *g, int rank, int cuda_ordinal, dpt_err *err);
/* attach with the collectives on device_stream (a cudaStream_t of that device, the caller's until
 * detach) instead of a stream of the rank's own: the device's work and the collectives are then
 * ordered by the stream, and allreduce_sum_queued needs no wait before it (dpt/comm.h). NULL:
 * dpt_comm_nccl_attach. */
int dpt_comm_nccl_attach_on(dpt_comm_nccl *g, int rank, int cuda_ordinal, void *device_stream,
                            dpt_err *err);
void dpt_comm_nccl_detach(dpt_comm_nccl *g, int rank);
/* Seconds rank waited for the others in its most recent collective (call from rank's thread). */
/* Over MPI processes (host/comm/nccl_alarm.h): the group's first abort, from whichever thread,
 * calls fn(ctx, code, why) once, unless it was dpt_comm_nccl_abort_told; fn runs under the
 * group's lock, so it must only record. NULL unhooks (after which fn is not running). */
typedef void (*dpt_comm_nccl_abort_fn)(void *ctx, int code, const char *why);
void dpt_comm_nccl_on_abort(dpt_comm_nccl *g, dpt_comm_nccl_abort_fn fn, void *ctx);
/* Aborts the group (as a rank's abort does, from any thread) for a failure another process told
 * of: on_abort is not called. */
void dpt_comm_nccl_abort_told(dpt_comm_nccl *g, int code, const char *why);
double dpt_comm_nccl_last_wait_s(const dpt_comm_nccl *g, int rank);
void dpt_comm_nccl_destroy(dpt_comm_nccl *g);

#endif
