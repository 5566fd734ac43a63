/* The JSON summary of a run (--report FILE). */
#ifndef DPT_HOST_RECORD_REPORT_H
#define DPT_HOST_RECORD_REPORT_H

#include "dpt/config.h"
#include "dpt/status.h"
#include "dpt/trainer.h"

/* Writes the report as dpt/atomic_file.h writes files: whole or not at all ("-": standard
 * output). The path was checked at start-up (host/train/run_files.h). */
int dpt_report_write(const char *path, const dpt_config *cfg, const dpt_result *res, dpt_err *err);

#endif
