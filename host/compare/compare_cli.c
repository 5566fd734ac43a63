/* The command line of `dptrain compare`: its own options beside every training option. */
#include <stdlib.h>
#include <string.h>

#include "dpt/parse.h"
#include "host/compare/compare.h"

enum { OPT_STRATEGIES = DPT_CLI_EXTRA_ID, OPT_WORKERS_LIST, OPT_TARGET_ACC, OPT_OUT, OPT_REFUSED };

static const struct option own_options[] = {
  {"strategies", required_argument, NULL, OPT_STRATEGIES},
  {"workers", required_argument, NULL, OPT_WORKERS_LIST},
  {"target-acc", required_argument, NULL, OPT_TARGET_ACC},
  {"out", required_argument, NULL, OPT_OUT},
};
enum { N_OWN = sizeof own_options / sizeof own_options[0] };

/* Training options that make no sense here: the parser refuses each with its reason, and the
 * help leaves them out. */
static const struct {
  const char *name;
  const char *why;
} refused[] = {
  {"strategy", "--strategy: compare takes --strategies LIST"},
  {"report", "--report: compare writes every run's report into --out"},
  {"metrics", "--metrics: compare writes every run's metrics into --out"},
  {"trace", "--trace: trace a single run with dptrain --trace FILE"},
  {"trace-steps", "--trace-steps: trace a single run with dptrain --trace"},
  {"checkpoint", "--checkpoint: not available with compare"},
  {"checkpoint-every", "--checkpoint-every: not available with compare"},
  {"resume", "--resume: not available with compare"},
};
enum { N_REFUSED = sizeof refused / sizeof refused[0] };

/* compare's options, then the refused ones (ids OPT_REFUSED + index), then the zeroed end. */
static void option_table(struct option table[N_OWN + N_REFUSED + 1])
{
  for (int i = 0; i < N_OWN; i++) table[i] = own_options[i];
  for (int i = 0; i < N_REFUSED; i++)
    table[N_OWN + i] = (struct option){refused[i].name, required_argument, NULL, OPT_REFUSED + i};
  table[N_OWN + N_REFUSED] = (struct option){NULL, 0, NULL, 0};
}

static bool same_name(const char *option, const char *name, size_t len)
{
  return strlen(option) == len && strncmp(option, name, len) == 0;
}

/* A training option's help line that compare's help leaves out: refused here, or redefined by
 * compare (--workers takes a list). line is "  --NAME ..." */
static bool left_out(const char *line)
{
  const char *name = line + 4;
  size_t len = strcspn(name, " ,\n");
  for (int i = 0; i < N_OWN; i++)
    if (same_name(own_options[i].name, name, len)) return true;
  for (int i = 0; i < N_REFUSED; i++)
    if (same_name(refused[i].name, name, len)) return true;
  return false;
}

/* The training options' help without the lines left_out() drops: an option's continuation lines
 * go with it, and a section heading is printed only when an option under it is. */
static void print_training_options(FILE *out)
{
  char *text = NULL;
  size_t size = 0;
  FILE *mem = open_memstream(&text, &size);
  if (!mem) {
    dpt_cli_print_training_options(out);
    return;
  }
  dpt_cli_print_training_options(mem);
  fclose(mem);
  const char *heading = NULL; /* a section's heading not printed yet */
  size_t heading_len = 0;
  bool keep = true;
  for (const char *line = text; *line;) {
    size_t len = strcspn(line, "\n");
    if (line[len] == '\n') len++;
    if (line[0] != ' ') {
      heading = line;
      heading_len = len;
    } else {
      if (!strncmp(line, "  --", 4)) keep = !left_out(line);
      if (keep && heading) {
        fwrite(heading, 1, heading_len, out);
        heading = NULL;
      }
      if (keep) fwrite(line, 1, len, out);
    }
    line += len;
  }
  free(text);
}

void dpt_compare_print_help(FILE *out)
{
  fputs("usage: dptrain compare [options]\n"
        "Trains the same job (data, seed, hyper-parameters) once per strategy and worker count,\n"
        "one run after another, and compares them: a table on the terminal, compare.csv and\n"
        "compare.md, charts (gnuplot scripts and data; PNGs where gnuplot is installed), and\n"
        "every run's JSON report and metrics CSV.\n"
        "\n"
        "Compare:\n"
        "  --strategies LIST     strategies, comma-separated [allreduce,ps]\n"
        "  --workers LIST        worker counts, comma-separated [1,2,4]\n"
        "  --target-acc X        time each run to test accuracy X, 0 < X <= 1 [none]\n"
        "  --out DIR             output folder: new, empty, or an earlier compare's, whose files\n"
        "                        are replaced [compare-YYYYMMDD-HHMMSS]\n"
        "Every training option below applies to every run.\n"
        "\n",
        out);
  print_training_options(out);
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
    if (id >= OPT_REFUSED && id < OPT_REFUSED + N_REFUSED)
      return dpt_err_set(err, DPT_EINPUT, "%s", refused[id - OPT_REFUSED].why);
    return dpt_err_set(err, DPT_EINTERNAL, "compare: option %d has no handler", id);
  }
}

int dpt_compare_parse(int argc, char **argv, dpt_compare_options *opts, dpt_cli_action *action,
                      dpt_err *err)
{
  *opts = (dpt_compare_options){
    .strategies = {DPT_STRATEGY_ALLREDUCE, DPT_STRATEGY_PS}, .n_strategies = 2,
    .workers = {1, 2, 4}, .n_workers = 3};
  struct option options[N_OWN + N_REFUSED + 1];
  option_table(options);
  dpt_cli_extra extra = {.options = options, .apply = apply, .ctx = opts};
  int rc = dpt_cli_parse_with(argc, argv, &extra, &opts->train, action, err);
  if (rc) return rc;
  bool has_ps = false;
  for (int i = 0; i < opts->n_strategies; i++) has_ps |= opts->strategies[i] == DPT_STRATEGY_PS;
  const char *ps_option = dpt_cli_ps_option_given(&opts->train);
  if (ps_option && !has_ps)
    return dpt_err_set(err, DPT_EINPUT, "%s: only meaningful when --strategies has ps", ps_option);
  return DPT_OK;
}
