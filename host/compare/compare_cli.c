/* The command line of `dptrain compare`: its own options beside every training option. */
#include <string.h>

#include "dpt/parse.h"
#include "host/compare/compare.h"

enum {
  OPT_STRATEGIES = DPT_CLI_EXTRA_ID, OPT_WORKERS_LIST, OPT_TARGET_ACC, OPT_OUT,
  /* Training options that make no sense here, each refused with the reason below. */
  OPT_NO_STRATEGY, OPT_NO_REPORT, OPT_NO_METRICS, OPT_NO_TRACE, OPT_NO_TRACE_STEPS,
  OPT_NO_CHECKPOINT, OPT_NO_CHECKPOINT_EVERY, OPT_NO_RESUME
};

static const struct option compare_options[] = {
  {"strategies", required_argument, NULL, OPT_STRATEGIES},
  {"workers", required_argument, NULL, OPT_WORKERS_LIST},
  {"target-acc", required_argument, NULL, OPT_TARGET_ACC},
  {"out", required_argument, NULL, OPT_OUT},
  {"strategy", required_argument, NULL, OPT_NO_STRATEGY},
  {"report", required_argument, NULL, OPT_NO_REPORT},
  {"metrics", required_argument, NULL, OPT_NO_METRICS},
  {"trace", required_argument, NULL, OPT_NO_TRACE},
  {"trace-steps", required_argument, NULL, OPT_NO_TRACE_STEPS},
  {"checkpoint", required_argument, NULL, OPT_NO_CHECKPOINT},
  {"checkpoint-every", required_argument, NULL, OPT_NO_CHECKPOINT_EVERY},
  {"resume", required_argument, NULL, OPT_NO_RESUME},
  {NULL, 0, NULL, 0},
};

static const char *const refusals[] = {
  [OPT_NO_STRATEGY - OPT_NO_STRATEGY] = "--strategy: compare takes --strategies LIST",
  [OPT_NO_REPORT - OPT_NO_STRATEGY] = "--report: compare writes every run's report into --out",
  [OPT_NO_METRICS - OPT_NO_STRATEGY] = "--metrics: compare writes every run's metrics into --out",
  [OPT_NO_TRACE - OPT_NO_STRATEGY] = "--trace: trace a single run with dptrain --trace FILE",
  [OPT_NO_TRACE_STEPS - OPT_NO_STRATEGY] = "--trace-steps: trace a single run with dptrain --trace",
  [OPT_NO_CHECKPOINT - OPT_NO_STRATEGY] = "--checkpoint: not available with compare",
  [OPT_NO_CHECKPOINT_EVERY - OPT_NO_STRATEGY] = "--checkpoint-every: not available with compare",
  [OPT_NO_RESUME - OPT_NO_STRATEGY] = "--resume: not available with compare",
};

void dpt_compare_print_help(FILE *out)
{
  fputs("usage: dptrain compare [options]\n"
        "Trains the same job (data, seed, hyper-parameters) once per strategy and worker count,\n"
        "one run after another, and compares them: a table on the terminal, compare.csv and\n"
        "compare.md, PNG charts (with gnuplot), and every run's JSON report and metrics CSV.\n"
        "\n"
        "Compare:\n"
        "  --strategies LIST     strategies, comma-separated [allreduce,ps]\n"
        "  --workers LIST        worker counts, comma-separated [1,2,4]\n"
        "  --target-acc X        time each run to test accuracy X, 0 < X <= 1 [none]\n"
        "  --out DIR             output folder, created if missing [compare-YYYYMMDD-HHMMSS]\n"
        "Every training option below applies to every run, except --strategy, --report,\n"
        "--metrics, --trace, --trace-steps, --checkpoint, --checkpoint-every and --resume.\n"
        "\n",
        out);
  dpt_cli_print_training_options(out);
  dpt_cli_print_footer(out);
}

/* Each value at most once: the table has one row per strategy and worker count. */
static int check_unique(const char *opt, const char *value, const int *items, int n, dpt_err *err)
{
  for (int i = 0; i < n; i++)
    for (int j = 0; j < i; j++)
      if (items[i] == items[j])
        return dpt_err_set(err, DPT_EINPUT, "%s '%s': an item is listed twice", opt, value);
  return DPT_OK;
}

static int apply(void *ctx, int id, const char *v, dpt_config *cfg, dpt_err *err)
{
  dpt_compare_options *o = ctx;
  int rc;
  switch (id) {
  case OPT_STRATEGIES:
    rc = dpt_parse_choice_list("--strategies", v, dpt_cli_strategy_names,
                               DPT_COMPARE_MAX_STRATEGIES, o->strategies, &o->n_strategies, err);
    return rc ? rc : check_unique("--strategies", v, o->strategies, o->n_strategies, err);
  case OPT_WORKERS_LIST:
    rc = dpt_parse_int_list("--workers", v, 1, 4096, DPT_COMPARE_MAX_WORKERS, o->workers,
                            &o->n_workers, err);
    return rc ? rc : check_unique("--workers", v, o->workers, o->n_workers, err);
  case OPT_TARGET_ACC: return dpt_parse_double("--target-acc", v, 0, true, 1, &o->target_acc, err);
  case OPT_OUT: o->out_dir = v; return DPT_OK;
  default:
    if (id >= OPT_NO_STRATEGY && id <= OPT_NO_RESUME)
      return dpt_err_set(err, DPT_EINPUT, "%s", refusals[id - OPT_NO_STRATEGY]);
    return dpt_err_set(err, DPT_EINTERNAL, "compare: option %d has no handler", id);
  }
}

int dpt_compare_parse(int argc, char **argv, dpt_compare_options *opts, dpt_cli_action *action,
                      dpt_err *err)
{
  *opts = (dpt_compare_options){
    .strategies = {DPT_STRATEGY_ALLREDUCE, DPT_STRATEGY_PS}, .n_strategies = 2,
    .workers = {1, 2, 4}, .n_workers = 3};
  dpt_cli_extra extra = {.options = compare_options, .apply = apply, .ctx = opts};
  int rc = dpt_cli_parse_with(argc, argv, &extra, &opts->train, action, err);
  if (rc) return rc;
  bool has_ps = false;
  for (int i = 0; i < opts->n_strategies; i++) has_ps |= opts->strategies[i] == DPT_STRATEGY_PS;
  const char *ps_option = dpt_cli_ps_option_given(&opts->train);
  if (ps_option && !has_ps)
    return dpt_err_set(err, DPT_EINPUT, "%s: only meaningful when --strategies has ps", ps_option);
  return DPT_OK;
}
