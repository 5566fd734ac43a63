/* Private to host/: between a run and its checkpoint files. Saving captures the run's state from
 * worker 0 at a step boundary; resuming checks that a checkpoint belongs to this run (model shape,
 * processes x workers and every setting the numbers depend on) before the run starts from it.
 * Over MPI processes (host/train/run_procs.h) process 0 alone writes and reads the file. */
#ifndef DPT_HOST_TRAIN_CHECKPOINT_RUN_H
#define DPT_HOST_TRAIN_CHECKPOINT_RUN_H

#include "dpt/device.h"
#include "dpt/status.h"

struct dpt_run;

/* Worker 0, while no exchange is in flight (between barriers): saves the parameters (its
 * replica's, params on dev), the optimizer state, the workers' figures of the epoch so far and
 * the position to continue from (next_epoch, next_step) to --checkpoint. No-op without one.
 * Over MPI, worker 0 of every process at the same point: process 0 gathers every worker's
 * figures and writes; every process returns its outcome once the file is in place. */
int dpt_checkpoint_save_run(struct dpt_run *run, dpt_device *dev, const float *params,
                            int next_epoch, long next_step, dpt_err *err);

/* Reads --resume, checks it against the run (DPT_EINPUT naming the file and the mismatch: the
 * model, the layout, the settings, and the data set, by the fingerprints of its training and test
 * files), then copies its parameters into init_params and its position, figures (of this
 * process's workers) and skipped steps (in all, in the epoch, in a row) into the run. The
 * checkpoint stays in run->resilience.resumed (its velocity seeds the optimizer). Over MPI every
 * process calls it at the same point: process 0 reads the file and broadcasts its bytes. */
int dpt_checkpoint_resume_run(struct dpt_run *run, float *init_params, dpt_err *err);

#endif
