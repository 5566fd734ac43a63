/* dptrain compare: the same job (data, seed, hyper-parameters) trained once per strategy and
 * worker count, ps also once per staleness (host/compare/compare_plan.h), one run after another,
 * summarized in a table (host/compare/compare_table.h) and charts
 * (host/compare/charts.h) in an output folder beside each run's JSON report and metrics CSV. */
#ifndef DPT_HOST_COMPARE_COMPARE_H
#define DPT_HOST_COMPARE_COMPARE_H

#include <stdbool.h>
#include <stdio.h>

#include "dpt/config.h"
#include "host/cli/cli.h"

enum {
  DPT_COMPARE_MAX_STRATEGIES = 2,
  DPT_COMPARE_MAX_WORKERS = 16,
  DPT_COMPARE_MAX_STALENESS = 8,
};

typedef struct dpt_compare_options {
  dpt_config train;       /* every run's settings; strategy and workers vary */
  int strategies[DPT_COMPARE_MAX_STRATEGIES]; /* dpt_strategy values */
  int n_strategies;
  int workers[DPT_COMPARE_MAX_WORKERS];
  int n_workers;
  int staleness[DPT_COMPARE_MAX_STALENESS]; /* ps runs' --staleness; inf: DPT_PS_STALENESS_INF */
  int n_staleness;
  double target_acc;      /* 0: no target */
  const char *out_dir;    /* NULL: a new folder named after the local time */
} dpt_compare_options;

/* argv[0] is "compare". Errors are DPT_EINPUT naming the option and the value. */
int dpt_compare_parse(int argc, char **argv, dpt_compare_options *opts, dpt_cli_action *action,
                      dpt_err *err);
void dpt_compare_print_help(FILE *out);

/* Runs every run of the plan into dir (which exists), printing one line as each run starts
 * and ends, then the table, to out. should_stop (may be NULL) is polled by the running run, as
 * dpt_observer.should_stop: true stops it at a step boundary and compare with DPT_EINTERRUPTED. */
int dpt_compare_run(const dpt_compare_options *opts, const char *dir, FILE *out,
                    bool (*should_stop)(void *ctx), dpt_err *err);

#endif
