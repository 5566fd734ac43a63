/* Private to host/: what happens to a worker's gradient between its backward pass and the shared
 * parameters, and at the boundary after each step: the test faults (host/fault.h), the NaN/Inf
 * check (--on-nan), the stop every worker agrees on (dpt_observer.should_stop), and the checkpoint
 * due in the middle of an epoch. Steps are 0-based within their epoch here; messages count them
 * from 1, since training started. */
#ifndef DPT_HOST_STEP_GUARD_H
#define DPT_HOST_STEP_GUARD_H

#include <stdbool.h>

#include "dpt/device.h"
#include "dpt/status.h"

struct dpt_run;

/* Before worker w's exchange: applies a DPT_FAULT aimed at this worker and step; checks the
 * gradient for NaN and Inf, which with --on-nan stop fails naming the worker and the step (so it
 * never reaches the shared parameters) and with skip becomes this worker's vote in
 * grads[n_params]; worker 0 also polls the stop request. */
int dpt_guard_before_exchange(struct dpt_run *run, int w, dpt_device *dev, float *grads, int epoch,
                              long step, dpt_err *err);

/* After the exchange: *skipped when some worker voted, in which case every worker's optimizer
 * step was skipped (worker 0 counts it and tells the observer). */
int dpt_guard_after_exchange(struct dpt_run *run, int w, dpt_device *dev, const float *grads,
                             int epoch, long step, bool *skipped, dpt_err *err);

/* At the boundary after step: *stop when every worker stops here (all see the same answer), and
 * the checkpoint due now (every --checkpoint-every steps, or on stopping) saved by worker 0
 * between two barriers. params is the worker's replica on dev. The checkpoint of an epoch's last
 * step is left to the epoch's end, after evaluation. */
int dpt_guard_step_boundary(struct dpt_run *run, int w, dpt_device *dev, const float *params,
                            int epoch, long step, bool *stop, dpt_err *err);

#endif
