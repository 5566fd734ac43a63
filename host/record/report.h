/* The JSON summary of a run (--report FILE), written atomically. */
#ifndef DPT_HOST_RECORD_REPORT_H
#define DPT_HOST_RECORD_REPORT_H

#include "dpt/config.h"
#include "dpt/status.h"
#include "dpt/trainer.h"

/* Refuses, before any training, a path whose folder is missing or not writable. */
int dpt_output_path_check(const char *opt, const char *path, dpt_err *err);

/* Writes path.tmp, flushes, fsyncs and renames it into place; nothing is left on failure. */
int dpt_report_write(const char *path, const dpt_config *cfg, const dpt_result *res, dpt_err *err);

#endif
