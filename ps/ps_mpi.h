/* Private to ps/: the parameter server over MPI processes (docs/mpi.md). Every process creates the
 * ps with the same config (dpt_ps_config.procs > 1). Process 0 holds the server (the local one, or
 * with staleness the stale one), whose workers are every process's: global worker p x N + w is
 * local worker w of process p. Its own workers push and pull through shared memory as in one
 * process. Each other process holds the remote client (ps_mpi_remote.c), whose pushes and pulls
 * travel to process 0 on the ps's channel, tagged by the local worker:
 *   push: ps_mpi_push_head (PS_MPI_PUSH, the lr and the worker's votes), then the gradient
 *         (n_params floats);
 *   pull: ps_mpi_pull_head (the round's vote counts, the staleness the pull saw), then the
 *         parameters (n_params floats);
 *   read: ps_mpi_push_head (PS_MPI_READ), answered like a pull with the server's parameters
 *         (dpt_ps_read_params: a stale run's replicas settle on them at an epoch's end).
 * On process 0 one serve thread per remote worker stands in for it (ps_mpi_serve.c): receives its
 * push, pushes it into the server as that global worker, pulls like a local worker (so a timeout
 * names a missing remote worker as it names a local one), and sends the result back. Messages are
 * raw bytes: every process runs the same build on the same architecture. */
#ifndef DPT_PS_MPI_H
#define DPT_PS_MPI_H

#include <stdint.h>

#include "dpt/ps.h"
#include "dpt/votes.h"
#include "mpi/mpi_chan.h"

struct ps_ops;

enum { PS_TAG_PUSH_HEAD, PS_TAG_PUSH_GRADS, PS_TAG_PULL_HEAD, PS_TAG_PULL_PARAMS, PS_TAGS };

/* Local worker w's messages of one kind; at most DPT_MPI_CHAN_TAG_MAX for w < 8191. */
static inline int ps_mpi_tag(int local_worker, int kind) { return local_worker * PS_TAGS + kind; }
enum { PS_MPI_MAX_WORKERS = (DPT_MPI_CHAN_TAG_MAX + 1) / PS_TAGS };

enum { PS_MPI_PUSH, PS_MPI_READ }; /* what a push head asks for */

typedef struct ps_mpi_push_head {
  int32_t kind;    /* PS_MPI_PUSH or PS_MPI_READ */
  float lr;
  dpt_votes votes; /* the worker's */
} ps_mpi_push_head;

typedef struct ps_mpi_pull_head {
  dpt_votes votes;    /* every worker's, in the round just pulled (dpt_ps_round.votes) */
  uint64_t staleness; /* dpt_ps_round.staleness */
} ps_mpi_pull_head;

/* Process 0's serve threads, one per worker of processes 1..procs-1. */
typedef struct ps_mpi_serve ps_mpi_serve;

/* Opens the ps's channel (collective) and starts the serve threads for the workers of processes
 * 1..cfg->procs-1 (local_workers each; cfg->n_workers counts every process's), which call the
 * server's push, pull and read_params through ops on impl, and its abort when serving fails.
 * *out is set before any thread starts (an abort may reach it); on failure the caller stops it. */
int ps_mpi_serve_start(const struct ps_ops *ops, void *impl, const dpt_ps_config *cfg,
                       int local_workers, ps_mpi_serve **out, dpt_err *err);
/* Wakes the serve threads' waits on messages (the server aborted). NULL: no-op. */
void ps_mpi_serve_abort(ps_mpi_serve *sv, int code, const char *why);
/* Stops the serve threads (waiting for the next push; one in flight is finished first) and closes
 * the channel. NULL: no-op. */
void ps_mpi_serve_stop(ps_mpi_serve *sv);

#endif
