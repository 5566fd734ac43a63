/* Private to host/: whether a run fits in memory, weighed from its data's headers before any
 * payload is read and before any thread or BLAS call starts. */
#ifndef DPT_HOST_TRAIN_RUN_MEMORY_H
#define DPT_HOST_TRAIN_RUN_MEMORY_H

#include "dpt/data.h"
#include "dpt/status.h"

struct dpt_run;

/* Once the run knows its device, workers and model (run->workers, device_kind, blas_threads,
 * shape): DPT_EINPUT (exit 2) naming the training images when the data and the model
 * cannot fit in the memory available, or under ulimit -v / -d; DPT_ENOMEM (exit 1) when they fit
 * but the limit leaves no room for the BLAS work buffers and thread stacks the run maps. */
int dpt_run_memory_check(const struct dpt_run *run, const dpt_data_plan *plan, dpt_err *err);

#endif
