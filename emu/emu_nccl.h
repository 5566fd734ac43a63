/* Private to the emulator's NCCL: communicators and the clique they meet in.
 *
 * A clique is the set of communicators made with one unique id, in any processes of the machine:
 * a shared memory segment named after the id (emu_nccl_clique.c) holds, under a process-shared
 * mutex, which rank sits on which device, whether initialisation has completed, a barrier, and
 * one lane of staging memory per rank through which collectives move data (emu_nccl_collective.c).
 * Communicators are reference counted, since queued stream work may outlive the caller's handle
 * (abort, destroy). */
#ifndef DPT_EMU_NCCL_H
#define DPT_EMU_NCCL_H

#include <nccl.h>

#include "emu/emu_internal.h"

typedef struct emu_clique emu_clique;

/* Joins (making it when first) the clique of id as rank on physical device `device`: NULL with
 * *why set when it cannot (ncclInvalidUsage: the rank is taken or nranks differs). */
emu_clique *emu_clique_join(const ncclUniqueId *id, int nranks, int rank, int device,
                            ncclResult_t *why);
/* Leaves; the last rank out removes the segment's name. */
void emu_clique_leave(emu_clique *q, int rank);
/* Whether every rank has joined; when so, dup_a and dup_b are two ranks on one device (or -1), and
 * device that device. */
bool emu_clique_ready(emu_clique *q, int *dup_a, int *dup_b, int *device);
/* Wakes every waiter of the clique, in every process (an abort). */
void emu_clique_wake(emu_clique *q);
/* ncclCommAbort's wait: marks rank out, then waits until every rank that joined has aborted or
 * left, or the wait limit passes (false). */
bool emu_clique_abort(emu_clique *q, int rank);

/* Waits until every rank has reached the barrier, or gives up (false) when gone() turns true or
 * the wait limit passes. */
typedef bool (*emu_gone_fn)(void *ctx);
bool emu_clique_barrier(emu_clique *q, emu_gone_fn gone, void *ctx);
/* A rank's lane of staging memory, EMU_LANE_FLOATS floats, and its call header. */
enum { EMU_LANE_FLOATS = 1 << 18 };
float *emu_clique_lane(emu_clique *q, int rank);
typedef struct emu_call {
  uint64_t seq;
  int kind, root, op;
  size_t count;
} emu_call;
emu_call *emu_clique_call(emu_clique *q, int rank);

struct ncclComm {
  emu_clique *clique;
  int rank, nranks;
  int device; /* physical */
  bool blocking;
  atomic_int refs;        /* the owner's and each queued collective's */
  atomic_int state;       /* ncclInProgress, ncclSuccess or the error it ended with */
  atomic_bool aborted;    /* by ncclCommAbort: queued work is dropped, waits end */
  atomic_bool finalizing; /* by ncclCommFinalize */
  atomic_int outstanding; /* collectives queued and not yet run */
  atomic_long run_count;  /* collectives run, for DPT_CUDA_EMU_NCCL_ERROR */
  uint64_t issued;        /* collectives queued: the next one's number (owner's thread only) */
  pthread_mutex_t err_mu;
  char last_error[256];
};

/* The communicator's error: sets state (the first error wins) and the text ncclGetLastError gives.
 */
void emu_comm_fail(struct ncclComm *c, ncclResult_t why, const char *fmt, ...);
void emu_comm_release(struct ncclComm *c);

typedef enum { EMU_ALLREDUCE, EMU_BROADCAST } emu_coll_kind;

/* A queued collective; runs on the rank's stream (emu_nccl_collective.c). */
typedef struct emu_coll_args {
  struct ncclComm *comm;
  emu_call call;
  const void *send;
  void *recv;
} emu_coll_args;
void emu_run_collective(emu_stream *s, void *args);

#endif
