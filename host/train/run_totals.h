/* Private to host/: the run's totals over every MPI process, for the report, once the workers
 * have joined (every process at the same point; in one process nothing to do). */
#ifndef DPT_HOST_TRAIN_RUN_TOTALS_H
#define DPT_HOST_TRAIN_RUN_TOTALS_H

#include "dpt/status.h"

struct dpt_run;

/* Over MPI: run->all_samples becomes every worker's samples trained (dpt_result.worker_samples,
 * in global worker order); with staleness, where each process counts its own workers' dropped
 * pushes, the run's skipped steps become the sum over processes and its divergence the first
 * any process saw, so that every process ends the run alike. */
int dpt_run_totals_gather(struct dpt_run *run, dpt_err *err);

#endif
