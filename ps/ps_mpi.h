/* Private to ps/: the parameter server over MPI processes (docs/mpi.md). Every process creates the
 * ps with the same config (dpt_ps_config.procs > 1). Process 0 holds the local server, whose rounds
 * wait for every process's workers: global worker p x N + w is local worker w of process p. Its
 * own workers push and pull through shared memory as in one process. Each other process holds the
 * remote client (ps_mpi_remote.c), whose pushes and pulls travel to process 0 on the ps's
 * channel, tagged by the local worker:
 *   push: ps_mpi_push_head (the lr and the worker's votes), then the gradient (n_params floats);
 *   pull: ps_mpi_pull_head (the round's vote counts), then the parameters (n_params floats).
 * On process 0 one serve thread per remote worker stands in for it (ps_mpi_serve.c): receives its
 * push, pushes it into the local server as that global worker, pulls the round like a local
 * worker (so the round's timeout names a missing remote worker as it names a local one), and
 * sends the result back. Messages are raw bytes: every process runs the same build on the same
 * architecture. */
#ifndef DPT_PS_MPI_H
#define DPT_PS_MPI_H

#include "dpt/votes.h"
#include "mpi/mpi_chan.h"

enum { PS_TAG_PUSH_HEAD, PS_TAG_PUSH_GRADS, PS_TAG_PULL_HEAD, PS_TAG_PULL_PARAMS, PS_TAGS };

/* Local worker w's messages of one kind; at most DPT_MPI_CHAN_TAG_MAX for w < 8191. */
static inline int ps_mpi_tag(int local_worker, int kind) { return local_worker * PS_TAGS + kind; }
enum { PS_MPI_MAX_WORKERS = (DPT_MPI_CHAN_TAG_MAX + 1) / PS_TAGS };

typedef struct ps_mpi_push_head {
  float lr;
  dpt_votes votes; /* the worker's */
} ps_mpi_push_head;

typedef struct ps_mpi_pull_head {
  dpt_votes votes; /* every worker's, in the round just pulled */
} ps_mpi_pull_head;

#endif
