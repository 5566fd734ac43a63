/* The command line of `dptrain compare`: its own options beside every training option. */
#include <stddef.h>
#include <string.h>

#include "dpt/ps.h"
#include "host/compare/compare.h"
#include "host/train/straggler.h"

#define AT(field) .offset = offsetof(dpt_compare_options, field)
#define COUNT(field) .count_offset = offsetof(dpt_compare_options, field)

/* Each value at most once: the table has one row per strategy, staleness and worker count. */
static int check_unique(const dpt_option *row, const char *value, const void *target,
                        dpt_err *err)
{
  const char *base = target;
  const int *items = (const int *)(base + row->offset);
  int n = *(const int *)(base + row->count_offset);
  for (int i = 0; i < n; i++)
    for (int j = 0; j < i; j++)
      if (items[i] == items[j]) {
        const char *item = value; /* the i-th item's text: the parser took value apart at commas */
        for (int k = 0; k < i; k++) item = strchr(item, ',') + 1;
        return dpt_err_set(err, DPT_EINPUT, "--%s '%s': %.*s is listed twice", row->name, value,
                           (int)strcspn(item, ","), item);
      }
  return DPT_OK;
}

/* compare's own options, then training options that make no sense here, each refused with the
 * reason given: they replace the training rows of the same name. */
static const dpt_option rows[] = {
  {.section = "Compare", .name = "strategies", .value = "LIST", .kind = DPT_OPT_CHOICE_LIST,
   AT(strategies), COUNT(n_strategies), .choices = dpt_cli_strategy_names,
   .max_items = DPT_COMPARE_MAX_STRATEGIES, .default_value = "allreduce,ps",
   .help = "strategies, comma-separated", .check = check_unique},
  {.name = "workers", .value = "LIST", .kind = DPT_OPT_INT_LIST, AT(workers), COUNT(n_workers),
   .min = 1, .max = 4096, .max_items = DPT_COMPARE_MAX_WORKERS, .default_value = "1,2,4",
   .help = "worker counts, comma-separated", .check = check_unique},
  /* The bounds of dptrain --staleness. */
  {.name = "staleness", .value = "LIST", .kind = DPT_OPT_INT_LIST, AT(staleness),
   COUNT(n_staleness), .min = 0, .max = 1000000, .max_word = "inf",
   .max_items = DPT_COMPARE_MAX_STALENESS, .default_value = "0",
   .help = "ps staleness values, comma-separated (0, S >= 1 or inf: docs/ps.md);\n"
           "ps runs once per value, allreduce once",
   .check = check_unique},
  {.name = "target-acc", .value = "X", .kind = DPT_OPT_DOUBLE, AT(target_acc), .min = 0,
   .min_open = true, .max = 1, .default_help = "none",
   .help = "time each run to test accuracy X, 0 < X <= 1"},
  {.name = "out", .value = "DIR", .kind = DPT_OPT_STRING, AT(out_dir),
   .default_help = "compare-YYYYMMDD-HHMMSS",
   .help = "output folder: new, empty, or an earlier compare's, whose files\nare replaced"},
  {.name = "strategy", .value = "S", .kind = DPT_OPT_REFUSED,
   .help = "compare takes --strategies LIST"},
  {.name = "report", .value = "FILE", .kind = DPT_OPT_REFUSED,
   .help = "compare writes every run's report into --out"},
  {.name = "metrics", .value = "FILE", .kind = DPT_OPT_REFUSED,
   .help = "compare writes every run's metrics into --out"},
  {.name = "trace", .value = "FILE", .kind = DPT_OPT_REFUSED,
   .help = "trace a single run with dptrain --trace FILE"},
  {.name = "trace-steps", .value = "N", .kind = DPT_OPT_REFUSED,
   .help = "trace a single run with dptrain --trace"},
  {.name = "checkpoint", .value = "FILE", .kind = DPT_OPT_REFUSED,
   .help = "not available with compare"},
  {.name = "checkpoint-every", .value = "N", .kind = DPT_OPT_REFUSED,
   .help = "not available with compare"},
  {.name = "resume", .value = "FILE", .kind = DPT_OPT_REFUSED, .help = "not available with compare"},
};

/* --straggler W:F applies to every run: W must exist in the one with the fewest workers, which
 * the run itself would find only when its turn came, after the others had trained. */
static int check_stragglers_exist(const dpt_compare_options *o, dpt_err *err)
{
  if (!o->train.straggler) return DPT_OK;
  dpt_stragglers s;
  int rc = dpt_stragglers_parse(o->train.straggler, &s, err);
  if (rc) return rc;
  int fewest = o->workers[0];
  for (int i = 1; i < o->n_workers; i++)
    if (o->workers[i] < fewest) fewest = o->workers[i];
  int top = dpt_stragglers_top_worker(&s);
  if (top >= fewest)
    return dpt_err_set(err, DPT_EINPUT,
                       "--straggler %s: worker %d does not exist in the %d-worker runs (workers "
                       "0..%d)",
                       o->train.straggler, top, fewest, fewest - 1);
  return DPT_OK;
}

static dpt_option_table compare_table(dpt_compare_options *opts)
{
  return (dpt_option_table){rows, sizeof rows / sizeof rows[0], opts};
}

void dpt_compare_print_help(FILE *out)
{
  fputs("usage: dptrain compare [options]\n"
        "Trains the same job (data, seed, hyper-parameters) once per strategy and worker count\n"
        "(ps also once per staleness), one run after another, and compares them: a table on\n"
        "the terminal, compare.csv and compare.md, charts (gnuplot scripts and data; PNGs\n"
        "where gnuplot is installed), and every run's JSON report and metrics CSV.\n"
        "Every training option listed applies to every run.\n"
        "\n",
        out);
  dpt_compare_options scratch;
  dpt_option_table table = compare_table(&scratch);
  dpt_cli_print_options(out, &table);
}

int dpt_compare_parse(int argc, char **argv, dpt_compare_options *opts, dpt_cli_action *action,
                      dpt_err *err)
{
  *opts = (dpt_compare_options){0};
  dpt_option_table table = compare_table(opts);
  int rc = dpt_options_defaults(&table, err);
  if (!rc) rc = dpt_cli_parse_with(argc, argv, &table, &opts->train, action, err);
  if (rc) return rc;
  bool has_ps = false;
  for (int i = 0; i < opts->n_strategies; i++) has_ps |= opts->strategies[i] == DPT_STRATEGY_PS;
  const char *ps_option = dpt_cli_ps_option_given(&opts->train);
  char stale[48]; /* "--staleness 4": the first value that is not 0 */
  for (int i = 0; i < opts->n_staleness && !ps_option; i++)
    if (opts->staleness[i] != 0) {
      snprintf(stale, sizeof stale, "--staleness %s",
               dpt_ps_staleness_text(opts->staleness[i]).text);
      ps_option = stale;
    }
  if (ps_option && !has_ps)
    return dpt_err_set(err, DPT_EINPUT, "%s: only meaningful when --strategies has ps", ps_option);
  return check_stragglers_exist(opts, err);
}
