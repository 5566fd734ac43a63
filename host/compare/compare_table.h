/* The figures of `dptrain compare`: one row per run, derived from the runs' results, rendered as
 * CSV (machines), Markdown (docs) and aligned text (the terminal) from the same cells. */
#ifndef DPT_HOST_COMPARE_COMPARE_TABLE_H
#define DPT_HOST_COMPARE_COMPARE_TABLE_H

#include <stdbool.h>
#include <stdio.h>

#include "dpt/trainer.h"

/* One finished run and its test accuracy after each epoch. */
typedef struct dpt_compared_run {
  dpt_result result;
  int n_epochs;             /* epochs recorded so far */
  double *epoch_elapsed_s;  /* since training started, at the end of each epoch's evaluation */
  double *epoch_test_acc;
} dpt_compared_run;

/* Whether staleness applies to the run: ps runs have one (0: synchronous), allreduce runs none. */
bool dpt_compare_is_ps(const dpt_result *r);

/* "allreduce", "ps" (staleness 0, synchronous), "ps S=4", "ps S=inf": a strategy and its
 * staleness, one series of runs over the worker counts. */
void dpt_compare_series(const char *strategy, int staleness, char *buf, size_t size);
/* "ps, 2 workers", "ps S=4, 2 workers": how runs are named on the terminal and in charts. */
void dpt_compare_label(const char *strategy, int staleness, int workers, char *buf, size_t size);

/* The index of the same series' 1-worker run, -1 where the list has none. */
int dpt_compare_baseline(const dpt_compared_run *runs, int n, int i);
/* Throughput over the same series' 1-worker run; NAN where the list has no 1-worker run. */
double dpt_compare_speedup(const dpt_compared_run *runs, int n, int i);
/* Elapsed seconds at the first epoch whose test accuracy reached target; NAN if none did. */
double dpt_compare_time_to_target(const dpt_compared_run *run, double target);

enum { DPT_COMPARE_COLS = 14, DPT_COMPARE_CELL = 24 };

typedef struct dpt_compare_table {
  int rows;
  char (*cells)[DPT_COMPARE_COLS][DPT_COMPARE_CELL]; /* rows of cells */
  char target_header[DPT_COMPARE_CELL * 2];
} dpt_compare_table;

/* target <= 0: no target, its column says "n/a". Staleness is "-" for allreduce, to which it
 * does not apply. */
int dpt_compare_table_make(const dpt_compared_run *runs, int n, double target,
                           dpt_compare_table *t, dpt_err *err);
void dpt_compare_table_free(dpt_compare_table *t);

void dpt_compare_table_csv(const dpt_compare_table *t, FILE *f);
void dpt_compare_table_markdown(const dpt_compare_table *t, FILE *f);
void dpt_compare_table_text(const dpt_compare_table *t, FILE *f);

#endif
