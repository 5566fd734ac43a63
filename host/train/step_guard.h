/* Private to host/: what happens to a worker's gradient between its backward pass and the shared
 * parameters, and at the boundary after each step: the test faults (host/train/fault.h), the NaN/Inf
 * check (--on-nan), the stop every worker agrees on (dpt_observer.should_stop), and the checkpoint
 * due in the middle of an epoch. Decisions every worker must share travel as votes (dpt/votes.h)
 * with the gradient exchange (dpt/sync.h); the device counts them into the worker's ledger
 * (dpt/ledger.h), which the host reads after the same steps on every worker of every MPI process,
 * so that all take the same decisions after the same step. Steps are 0-based within their epoch here; messages count them from 1,
 * since training started. */
#ifndef DPT_HOST_TRAIN_STEP_GUARD_H
#define DPT_HOST_TRAIN_STEP_GUARD_H

#include <stdbool.h>

#include "dpt/device.h"
#include "dpt/ledger.h"
#include "dpt/status.h"
#include "dpt/votes.h"

struct dpt_run;

/* Before worker w's exchange, casts its votes into the tally after grads (on dev, dpt/votes.h):
 * applies a DPT_FAULT aimed at this worker and step to its gradient; the device checks the
 * gradient for NaN and Inf, its skip vote (a set gate, device memory, votes skip too); and where
 * the counts are read next (read_due), worker 0 of each process polls the stop request, its stop
 * vote. Nothing waits for the device. */
int dpt_guard_before_exchange(struct dpt_run *run, int w, dpt_device *dev, float *grads,
                              const float *gate, int epoch, long step, bool read_due,
                              dpt_err *err);

/* What the votes decided, as read from a worker's ledger: the same on every worker of every
 * process, read after the same steps. */
typedef struct dpt_step_outcome {
  bool stop;     /* some process was asked to stop: every worker stops after this step */
  bool diverged; /* a skip made more than --max-skips in a row: every worker stops after this
                  * step, with no checkpoint (the run ends as DPT_EDIVERGED) */
  bool halted;   /* --on-nan stop, for another worker's gradient: stop, with no checkpoint */
} dpt_step_outcome;

/* After the exchange: a DPT_FAULT kind=diverge aimed at this worker and step moves its replica
 * (params on dev). */
int dpt_guard_after_exchange(struct dpt_run *run, int w, dpt_device *dev, float *params, int epoch,
                             long step, dpt_err *err);

/* Whether the ledger is read after step: every step where reading costs nothing (read_every 1),
 * else every read_every steps (dptrain: --metrics-every's), at each epoch's last step and where a
 * checkpoint is due. The same steps on every worker of every process. */
bool dpt_guard_read_due(const struct dpt_run *run, int epoch, long step);

/* At a read point after step, from worker w's ledger as read: the epoch's figures into its slot; the
 * skipped steps since the last read counted (worker 0 tells the observer about the first few,
 * the epoch lines count the rest); and the outcome. --on-nan stop fails the worker whose own
 * gradient was bad, naming the step. */
int dpt_guard_read(struct dpt_run *run, int w, const dpt_ledger *l, int epoch, long step,
                   dpt_step_outcome *out, dpt_err *err);

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
