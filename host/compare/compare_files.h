/* The files `dptrain compare` writes into its folder, by name: the names any compare writes, so
 * that a folder holding only those is recognised as an earlier compare's (host/compare/out_dir.h),
 * and the names this compare writes, so that the earlier compare's other files can go. */
#ifndef DPT_HOST_COMPARE_COMPARE_FILES_H
#define DPT_HOST_COMPARE_COMPARE_FILES_H

#include <stdbool.h>
#include <stddef.h>

#include "host/compare/compare_plan.h"

/* "run-ps-w2.json": run file of one strategy, staleness and worker count, ext "json" or "csv".
 * Staleness 0 (allreduce, synchronous ps) is not in the name, as before compare had staleness;
 * ps with staleness 4 is "run-ps-s4-w2.json", asynchronous ps "run-ps-sinf-w2.json". */
void dpt_compare_run_file(char *buf, size_t size, const char *strategy, int staleness, int workers,
                          const char *ext);

/* Whether some compare writes a file of this name (or its temporary file, "NAME.tmp.*"). */
bool dpt_compare_owns(const char *name);

enum { DPT_COMPARE_MAX_FILES = 2 * DPT_COMPARE_MAX_RUNS + 32 };

typedef struct dpt_compare_files {
  int n;
  char name[DPT_COMPARE_MAX_FILES][40];
} dpt_compare_files;

/* The files a compare of this plan writes; target_acc: its --target-acc (0: none); drawn: gnuplot
 * drew the PNGs. */
void dpt_compare_files_of(const dpt_compare_plan *plan, double target_acc, bool drawn,
                          dpt_compare_files *out);
bool dpt_compare_files_has(const dpt_compare_files *files, const char *name);

#endif
