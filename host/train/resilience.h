/* Private to host/: what a run keeps to survive interruptions and bad steps: where the workers
 * start (a --resume checkpoint's position), when they all stop (a stop request, e.g. a signal),
 * the test hooks (host/train/fault.h) and the steps --on-nan skip dropped. It lives in dpt_run (run.h);
 * the per-step work is host/train/step_guard.c, checkpoints host/train/checkpoint_run.c. */
#ifndef DPT_HOST_TRAIN_RESILIENCE_H
#define DPT_HOST_TRAIN_RESILIENCE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "dpt/status.h"
#include "dpt/sync.h"
#include "host/checkpoint/checkpoint_format.h"
#include "host/train/fault.h"

struct dpt_run;

/* Skipped steps announced one by one; the epoch lines count the others. */
enum { DPT_SKIP_NOTICES = 3 };

typedef struct dpt_resilience {
  int start_epoch;            /* 1-based: where the workers start (1, or a checkpoint's position) */
  long start_step;            /* within start_epoch */
  dpt_checkpoint resumed;     /* --resume: the checkpoint read (its velocity seeds the optimizer) */
  float *save_params;         /* --checkpoint: host staging (worker 0; process 0): n_params, */
  float *save_velocity;       /* n_params floats, */
  dpt_checkpoint_worker *save_workers; /* one entry per worker of every process, */
  dpt_checkpoint_worker *save_mine;    /* and per worker of this process (gathered into those) */
  int saved_epoch;            /* process 0: the epoch the last checkpoint saved continues in */
  uint64_t saved_state_hash;  /* (0: none saved) and its state's hash (dpt_stale_state_hash) */
  uint64_t resumed_state_hash; /* staleness and --resume: the server's state at the start */
  dpt_fault fault;            /* test hooks, read from the environment once, before loading */
  long stopped_after;         /* worker 0: the step the run stopped after early (0: it did not) */
  /* A stop request during an evaluation: worker 0 polls it and raises stop_evaluation, which every
   * worker of the process reads between its chunks; once the figures are summed over the
   * processes, evaluation_cut says whether any was cut short (worker 0 writes it before a
   * barrier): then the epoch is not reported and the run stops after saving its checkpoint. */
  atomic_bool stop_evaluation;
  bool evaluation_cut;
  /* With staleness every worker counts its own skipped pushes into the counts below (and
   * diverged_after) under skip_mu, and queues the first notices, which worker 0 prints
   * (host/train/step_guard.c). */
  pthread_mutex_t skip_mu;
  char skip_notice[DPT_SKIP_NOTICES][320];
  long notices_printed;
  long skipped_steps;         /* worker 0: steps dropped by --on-nan skip, the checkpoint's too */
  long epoch_skipped_steps;   /* worker 0: those of the epoch in progress */
  long skip_notices;          /* worker 0: skipped steps of this run the observer was told of */
  long diverged_after;        /* worker 0: the step whose skip exceeded --max-skips (0: none) */
  /* worker 0: the step after which --on-nan stop stopped the run for a worker of another
   * process, whose own error ends that process (0: none) */
  long nonfinite_after;
} dpt_resilience;

/* Before the workers start, with init_params holding the seeded initialization: checks the test
 * hooks (read into fault before the data loaded), applies --resume (parameters into init_params,
 * optimizer state, position, figures; every mismatch is DPT_EINPUT), allocates the save buffers,
 * and sets the sync config's fields. */
int dpt_resilience_setup(struct dpt_run *run, float *init_params, dpt_sync_config *sc,
                         dpt_err *err);

/* After the workers joined without error: DPT_EDIVERGED (with where, and what to change) when
 * they stopped after too many skipped steps in a row; DPT_ENONFINITE when they stopped for another
 * process's worker's NaN or Inf (--on-nan stop); DPT_EINTERRUPTED (with where the run
 * stopped and the checkpoint that continues it) when they stopped on request before the last
 * epoch ended; else 0. With staleness it first prints the skip notices worker 0 had not. */
int dpt_resilience_finish(struct dpt_run *run, dpt_err *err);

/* Training samples the run had done before its start position (0 unless resumed). */
long dpt_resilience_samples_before_start(const struct dpt_run *run);

void dpt_resilience_release(struct dpt_run *run);

#endif
