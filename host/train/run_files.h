/* The files a run reads and writes, in one table checked before anything is loaded or trained
 * (docs/reliability.md, Output files): every output can be written where it points
 * (dpt/out_target.h); no two outputs are one file; no output is one of the run's inputs (the data
 * set's files, --resume). The one exception: --checkpoint and --resume naming one file, a run
 * continued in place, whose checkpoint is read before the first save replaces it. Files are the
 * same when their device and inode are, or, for outputs not created yet, their resolved paths. */
#ifndef DPT_HOST_TRAIN_RUN_FILES_H
#define DPT_HOST_TRAIN_RUN_FILES_H

#include <stdbool.h>

#include "dpt/config.h"
#include "dpt/status.h"

/* DPT_EINPUT naming the option (and, for a clash, both options) and the problem. Also the data
 * loader's error for a missing data folder or file. */
int dpt_run_files_check(const dpt_config *cfg, dpt_err *err);

/* Whether --report or --metrics is "-" (standard output): what else a run says then goes to
 * standard error, so that standard output holds that file alone. */
bool dpt_run_files_take_stdout(const dpt_config *cfg);

#endif
