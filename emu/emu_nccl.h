/* Private to the emulator's NCCL: communicators and the cliques they form.
 *
 * A clique is the set of communicators made with one unique id: in this
 * process, up to its nranks ranks, each on its own device (NCCL's rule). Its
 * collectives meet in slots, one per sequence number: the kth collective of
 * every rank meets in slot k. Communicators and cliques are reference counted,
 * since queued stream work may outlive the caller's handle (abort, destroy). */
#ifndef DPT_EMU_NCCL_H
#define DPT_EMU_NCCL_H

#include <nccl.h>

#include "emu/emu_internal.h"

typedef enum { EMU_ALLREDUCE, EMU_BROADCAST } emu_coll_kind;

/* One collective's meeting: the kth call of every rank. Freed by the last rank
 * to leave it. */
typedef struct emu_slot {
  struct emu_slot *next;
  uint64_t seq;
  emu_coll_kind kind;
  size_t count;
  int root;
  ncclRedOp_t op;
  int arrived, departed;
  bool done;
  const float **send; /* views, by rank (in the same allocation) */
  float **recv;
} emu_slot;

typedef struct emu_clique {
  struct emu_clique *next; /* the registry's list */
  ncclUniqueId id;
  int nranks, joined;
  int live;                /* communicators not yet freed; the last one frees the clique */
  struct ncclComm **ranks; /* by rank; NULL before it joins and after it is freed */
  bool init_done;
  pthread_mutex_t mu; /* guards everything here and the slots */
  pthread_cond_t cv;  /* init done, a slot done, a rank aborted */
  emu_slot *slots;
} emu_clique;

struct ncclComm {
  emu_clique *clique;
  int rank;
  int device; /* physical */
  bool blocking;
  atomic_int refs;        /* the owner's and each queued collective's */
  atomic_int state;       /* ncclInProgress, ncclSuccess or the error it ended with */
  atomic_bool aborted;    /* by ncclCommAbort: queued work is dropped, waits end */
  atomic_bool finalizing; /* by ncclCommFinalize */
  atomic_int outstanding; /* collectives queued and not yet run */
  atomic_long run_count;  /* collectives run, for DPT_CUDA_EMU_NCCL_ERROR */
  uint64_t issued;        /* collectives queued: the next one's slot (owner's thread
                             only) */
  pthread_mutex_t err_mu;
  char last_error[256];
};

/* The communicator's error: sets state (the first error wins) and the text
 * ncclGetLastError gives. */
void emu_comm_fail(struct ncclComm *c, ncclResult_t why, const char *fmt, ...);
void emu_comm_release(struct ncclComm *c);

/* Runs a queued collective on the rank's stream (emu_nccl_collective.c). */
typedef struct emu_coll_args {
  struct ncclComm *comm;
  emu_coll_kind kind;
  uint64_t seq;
  const void *send;
  void *recv;
  size_t count;
  ncclRedOp_t op;
  int root;
} emu_coll_args;
void emu_run_collective(emu_stream *s, void *args);

#endif
