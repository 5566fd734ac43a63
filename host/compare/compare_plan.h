/* The runs of a compare, in the order they train: each strategy in --strategies order; allreduce
 * once per worker count (staleness does not apply to it), ps once per --staleness value and
 * worker count, staleness outermost, so that each staleness's rows sit together in the table. */
#ifndef DPT_HOST_COMPARE_COMPARE_PLAN_H
#define DPT_HOST_COMPARE_COMPARE_PLAN_H

#include "host/compare/compare.h"

typedef struct dpt_compare_run_spec {
  dpt_strategy strategy;
  int staleness; /* ps: the --staleness value; allreduce: 0 */
  int workers;
} dpt_compare_run_spec;

enum { DPT_COMPARE_MAX_RUNS = DPT_COMPARE_MAX_WORKERS * (1 + DPT_COMPARE_MAX_STALENESS) };

typedef struct dpt_compare_plan {
  int n;
  dpt_compare_run_spec run[DPT_COMPARE_MAX_RUNS];
  int staleness_values; /* how many staleness values the ps runs sweep; 0 without ps */
} dpt_compare_plan;

void dpt_compare_plan_make(const dpt_compare_options *o, dpt_compare_plan *plan);

#endif
