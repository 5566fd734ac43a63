/* Private to host/: a run's data loading, which a stop request ends between two reads
 * (dpt_data_load_dir's stop check), with the slow-load test hook (host/train/fault.h). */
#ifndef DPT_HOST_TRAIN_LOAD_DATA_H
#define DPT_HOST_TRAIN_LOAD_DATA_H

#include "dpt/data.h"
#include "dpt/status.h"

struct dpt_run;

/* Loads run->cfg's data into train and test (run->obs and run->resilience.fault set); a read waits
 * at most --timeout for bytes. plan_check (ctx: run) weighs the run once the headers and labels are
 * read, before any image payload (dpt_data_options.check_plan). A stop request
 * ends it with DPT_EINTERRUPTED and empty sets; over MPI processes it returns DPT_OK with empty
 * sets instead: such a process still meets the others where they agree on the run before
 * training (dpt_run_procs_setup), so that every process stops there together. */
int dpt_run_load_data(struct dpt_run *run, dpt_data_plan_check plan_check, dpt_dataset *train,
                      dpt_dataset *test, dpt_err *err);

#endif
