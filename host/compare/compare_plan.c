#include "host/compare/compare_plan.h"

void dpt_compare_plan_make(const dpt_compare_options *o, dpt_compare_plan *plan)
{
  plan->n = 0;
  plan->staleness_values = 0;
  for (int s = 0; s < o->n_strategies; s++) {
    dpt_strategy strategy = (dpt_strategy)o->strategies[s];
    bool ps = strategy == DPT_STRATEGY_PS;
    int values = ps ? o->n_staleness : 1;
    if (ps) plan->staleness_values = values;
    for (int v = 0; v < values; v++)
      for (int w = 0; w < o->n_workers; w++)
        plan->run[plan->n++] = (dpt_compare_run_spec){
          .strategy = strategy, .staleness = ps ? o->staleness[v] : 0, .workers = o->workers[w]};
  }
}
