/* Private to host/: what happens to a worker's gradient between its backward pass and the shared
 * parameters, and at the boundary after each step: the test faults (host/train/fault.h), the NaN/Inf
 * check (--on-nan), the stop every worker agrees on (dpt_observer.should_stop), and the checkpoint
 * due in the middle of an epoch. Decisions every worker must share travel as votes (dpt/votes.h)
 * with the gradient exchange (dpt/sync.h), so that every worker of every MPI process sees the same
 * counts after the same exchange. Steps are 0-based within their epoch here; messages count them from 1,
 * since training started. */
#ifndef DPT_HOST_TRAIN_STEP_GUARD_H
#define DPT_HOST_TRAIN_STEP_GUARD_H

#include <stdbool.h>

#include "dpt/device.h"
#include "dpt/status.h"
#include "dpt/votes.h"

struct dpt_run;

/* Before worker w's exchange, casts its votes into *votes: applies a DPT_FAULT aimed at this
 * worker and step to its gradient (grads, on dev); checks the gradient for NaN and Inf, which with
 * --on-nan stop fails naming the worker and the step (so it never reaches the shared parameters)
 * and with skip is its skip vote; worker 0 of each process polls the stop request, its stop vote. */
int dpt_guard_before_exchange(struct dpt_run *run, int w, dpt_device *dev, float *grads, int epoch,
                              long step, dpt_votes *votes, dpt_err *err);

/* What an exchange's vote counts decided: the same on every worker of every process. */
typedef struct dpt_step_outcome {
  dpt_votes counts; /* every worker's votes, counted */
  bool skipped;  /* some worker's gradient held NaN or Inf: no worker stepped (--on-nan skip) */
  bool stop;     /* some process was asked to stop: every worker stops after this step */
  bool diverged; /* this skip made more than --max-skips in a row: every worker stops after this
                  * step, with no checkpoint (the run ends as DPT_EDIVERGED) */
} dpt_step_outcome;

/* After the exchange, from its counts. Every worker counts the skips in a row in its own slot
 * (from the same counts, so every worker of every process takes the same decision); worker 0
 * counts a skipped step and tells the observer about the first few (the epoch lines count the
 * rest). A DPT_FAULT kind=diverge aimed at this worker and step moves its replica (params on
 * dev). */
int dpt_guard_after_exchange(struct dpt_run *run, int w, dpt_device *dev, float *params,
                             dpt_votes counts, int epoch, long step, dpt_step_outcome *out,
                             dpt_err *err);

/* With staleness: the skipped pushes' notices queued since the last call (the first few of the
 * run), printed by worker 0 between its steps, and once the workers have joined. */
void dpt_guard_print_skips(struct dpt_run *run);

/* At the boundary after step, which is the last when the outcome stops the run: the checkpoint
 * due now (every --checkpoint-every steps, or on a stop request; never after diverging) saved by
 * worker 0 between two barriers. params is the worker's replica on dev. The checkpoint of an
 * epoch's last step is left to the epoch's end, after evaluation. */
int dpt_guard_step_boundary(struct dpt_run *run, int w, dpt_device *dev, const float *params,
                            int epoch, long step, const dpt_step_outcome *outcome, dpt_err *err);

#endif
