/* Private to host/train: what a CUDA device was given per training step, from its counts
 * (dpt_dev_counts) read at a few points of the run, for the report's `cuda` figures. */
#ifndef DPT_HOST_TRAIN_STEP_COUNTS_H
#define DPT_HOST_TRAIN_STEP_COUNTS_H

#include <stdbool.h>

#include "dpt/device.h"
#include "dpt/trainer.h"

/* One worker's readings; only its own thread writes them. */
typedef struct dpt_step_counts {
  bool counted;          /* the device keeps counts (CUDA) */
  bool first_step_done;  /* after_first_step is read */
  dpt_dev_counts after_first_step, loop_start, loop_end, at_end;
  long loop_steps;       /* training steps between loop_start and loop_end */
} dpt_step_counts;

/* The points of a run: an epoch's training loop starts, the run's first step ended, the loop
 * ended after `steps` steps (the last epoch's loop is the one reported), the run ended. */
void dpt_step_counts_loop_start(dpt_step_counts *c, dpt_device *dev);
void dpt_step_counts_step_done(dpt_step_counts *c, dpt_device *dev);
void dpt_step_counts_loop_end(dpt_step_counts *c, dpt_device *dev, long steps);
void dpt_step_counts_end(dpt_step_counts *c, dpt_device *dev);

/* Folds one worker's readings into the figures of its process, which start zeroed: each figure
 * the largest any worker had (the busiest device). out->valid stays false while no worker that
 * counted ran a step. */
void dpt_step_counts_add(const dpt_step_counts *c, dpt_cuda_figures *out);

#endif
