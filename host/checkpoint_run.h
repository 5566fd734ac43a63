/* Private to host/: between a run and its checkpoint files. Saving captures the run's state from
 * worker 0 at a step boundary; resuming checks that a checkpoint belongs to this run (model shape,
 * workers and every setting the numbers depend on) before the run starts from it. */
#ifndef DPT_HOST_CHECKPOINT_RUN_H
#define DPT_HOST_CHECKPOINT_RUN_H

#include "dpt/device.h"
#include "dpt/status.h"

struct dpt_run;

/* Worker 0, while no exchange is in flight (between barriers): saves the parameters (its
 * replica's, params on dev), the optimizer state, the workers' figures of the epoch so far and
 * the position to continue from (next_epoch, next_step) to --checkpoint. No-op without one. */
int dpt_checkpoint_save_run(struct dpt_run *run, dpt_device *dev, const float *params,
                            int next_epoch, long next_step, dpt_err *err);

/* Reads --resume, checks it against the run (DPT_EINPUT naming the file and the mismatch), then
 * copies its parameters into init_params and its position, figures and skipped steps into the
 * run. The checkpoint stays in run->res.resumed (its velocity seeds the optimizer). */
int dpt_checkpoint_resume_run(struct dpt_run *run, float *init_params, dpt_err *err);

#endif
