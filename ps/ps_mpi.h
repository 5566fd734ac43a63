/* Private to ps/: the parameter server over MPI processes (docs/mpi.md). Every process creates the
 * ps with the same config (dpt_ps_config.procs > 1). Process 0 holds the server, whose rounds wait
 * for every process's workers: global worker p x N + w is local worker w of process p. Its own
 * workers push and pull through shared memory as in one process. Each other process holds a
 * `remote` dpt_ps without shards, whose pushes and pulls travel to process 0 on the ps's channel,
 * tagged by the local worker:
 *   push: ps_mpi_push_head, then the gradient (n_params floats);
 *   pull: ps_mpi_pull_head, then the parameters (n_params floats).
 * On process 0 one serve thread per remote worker stands in for it: receives its push, pushes it
 * into the server as that global worker, pulls the round like a local worker (so the round's
 * timeout names a missing remote worker as it names a local one), and sends the result back.
 * Messages are raw bytes: every process runs the same build on the same architecture. */
#ifndef DPT_PS_MPI_H
#define DPT_PS_MPI_H

#include <stdint.h>

#include "mpi/mpi_chan.h"
#include "ps/ps_internal.h"

enum { PS_TAG_PUSH_HEAD, PS_TAG_PUSH_GRADS, PS_TAG_PULL_HEAD, PS_TAG_PULL_PARAMS, PS_TAGS };

/* Local worker w's messages of one kind; at most DPT_MPI_CHAN_TAG_MAX for w < 8191. */
static inline int ps_mpi_tag(int local_worker, int kind) { return local_worker * PS_TAGS + kind; }
enum { PS_MPI_MAX_WORKERS = (DPT_MPI_CHAN_TAG_MAX + 1) / PS_TAGS };

typedef struct ps_mpi_push_head {
  float lr;
  dpt_ps_votes votes; /* the worker's */
} ps_mpi_push_head;

typedef struct ps_mpi_pull_head {
  dpt_ps_votes votes; /* every worker's, in the round just pulled */
} ps_mpi_pull_head;

/* Process 0, once its server runs: opens the channel and starts the serve threads for the
 * workers of processes 1..procs-1 (local_workers each). */
int ps_mpi_serve_start(dpt_ps *ps, int local_workers, dpt_err *err);
/* Stops the serve threads (waiting for the next push; a round in flight is finished first) and
 * closes the channel. No-op without them. */
void ps_mpi_serve_stop(dpt_ps *ps);

/* The other processes: a dpt_ps that forwards to process 0 (opens the channel). */
int ps_mpi_remote_create(const dpt_ps_config *cfg, dpt_ps **out, dpt_err *err);
int ps_mpi_remote_push(dpt_ps *ps, int worker, const float *grads, float lr,
                       dpt_ps_votes votes, dpt_err *err);
/* Sets the worker's pulled round, last_wait_s and last_votes, as dpt_ps_pull does. */
int ps_mpi_remote_pull(dpt_ps *ps, int worker, float *params, dpt_err *err);
void ps_mpi_remote_destroy(dpt_ps *ps);

#endif
