/* Private to ps/: the local server's state (ps/ps_ops.h), shared by the files that create it
 * (ps_create.c), serve workers (ps_worker.c), run the server threads (ps_server.c), abort it
 * (ps_abort.c) and, under MPI, serve the other processes' workers (ps_mpi_serve.c).
 *
 * Who touches what in a synchronous round r of shard s (this is why the bulk copies and the
 * arithmetic run outside every lock):
 *   - worker w writes its slot of s, then counts its push under s's lock;
 *   - the last push hands s to the server threads through the ready queue (server lock), as one
 *     task per slice of s;
 *   - each slice's server thread sums the slots and steps s's params and velocity over its slice,
 *     with no lock held, then counts the slice done (server lock); the thread that finished the
 *     last slice bumps s's version under s's lock;
 *   - each worker waits for the version under s's lock and copies s's params with no lock held.
 * Nobody writes s's slots or params in between: worker w pushes round r+1 only after pulling
 * round r in full, and the server steps s in round r+1 only after every worker pushed it. The
 * mutex hand-offs (shard lock, then server lock) order the writes before the reads.
 *
 * Locks: each shard's mu, and the server's mu guarding the ready queue and the stats. No thread
 * ever holds two of them. The abort record is lock-free (ps/ps_abort_record.h). */
#ifndef DPT_PS_INTERNAL_H
#define DPT_PS_INTERNAL_H

#include <pthread.h>
#include <stdalign.h>
#include <stdbool.h>
#include <stdint.h>

#include "dpt/cache_lines.h"
#include "dpt/ps.h"
#include "ps/ps_abort_record.h"
#include "ps/ps_mpi.h"
#include "ps/ps_rounds.h"

typedef struct ps_shard {
  alignas(DPT_CACHE_LINE) pthread_mutex_t mu; /* guards the fields below up to `pushed` */
  pthread_cond_t cv;              /* workers wait here for the next version */
  uint64_t version;               /* rounds applied to this shard */
  int arrived;                    /* pushes of round `version` counted so far */
  float lr;                       /* the round's learning rate, from its first push */
  dpt_votes votes;                /* votes of round `version` counted so far */
  dpt_votes last_votes;           /* votes of the round applied last (read by pulls) */
  bool *pushed;                   /* pushed[w]: worker w pushed round `version` (for timeouts) */
  /* Fixed at creation: */
  int index;
  size_t off, len; /* the shard's parameters are [off, off + len) */
  /* Guarded by the server lock while a round is applied: */
  int slices_left;  /* slices of the round not yet applied */
  double apply_t0;  /* when its first applied slice started */
  size_t stride;   /* floats from one worker's slot to the next: len rounded to a cache line */
  float *slots;    /* n_workers gradient slots of len floats; slot 0 doubles as the sum */
} ps_shard;

typedef struct ps_local {
  dpt_ps_config cfg;  /* n_workers: every process's (ps/ps_mpi.h); server_threads: resolved, each
                       * shard is cut into that many slices, one per thread */
  int workers_per_proc; /* whose gradients are summed first (ps_server.c) */
  float *params, *velocity; /* master copies, n_params floats each */
  ps_shard *shards;
  ps_worker *workers; /* every process's */
  bool *pushed_flags; /* backing store of every shard's `pushed` */
  float *slot_store;  /* backing store of every shard's `slots` */

  pthread_mutex_t mu; /* server lock: guards the fields below, and the shards' slices_left */
  pthread_cond_t cv;  /* the server threads wait here for ready tasks */
  int *ready;         /* ring of ready tasks, shard x slices + slice (a shard's at most once) */
  int ready_head, ready_len;
  bool stop;
  uint64_t shards_applied;
  uint64_t rounds_skipped; /* rounds some worker voted to skip (counted at shard 0) */
  double busy_s;

  pthread_t *threads;
  int started;        /* server threads running */

  ps_abort_record aborted;

  /* Under MPI, on process 0 (ps/ps_mpi.h): the threads that serve the other processes' workers,
   * and their channel; NULL otherwise. */
  ps_mpi_serve *serve;
} ps_local;

/* The local table's push and pull (ps_worker.c), for worker 0..cfg.n_workers-1. */
int ps_local_push(void *impl, int worker, const float *grads, float lr, dpt_votes votes,
                  const dpt_ps_pipe *pipe, dpt_err *err);
int ps_local_pull(void *impl, int worker, float *params, dpt_ps_round *round,
                  const dpt_ps_pipe *pipe, dpt_err *err);

/* The local table's abort: wakes every waiter, and the serve threads' channel (ps_abort.c). */
void ps_local_abort(void *impl, int code, const char *why);
/* The abort code, 0 while running. */
int ps_abort_code(ps_local *ps);
/* Copies the abort record into err and returns its code. */
int ps_abort_error(ps_local *ps, dpt_err *err);
/* Aborts with a formatted message and records it in err too; returns code. */
int ps_fail(ps_local *ps, dpt_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Hands a shard whose round is complete to the server threads. */
void ps_server_enqueue(ps_local *ps, ps_shard *s);
/* A server thread's body: applies ready slices until stopped or aborted. */
void *ps_server_main(void *arg);

#endif
