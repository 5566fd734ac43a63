/* dptrain: options -> run -> report. The only place that prints errors and chooses exit codes. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "dpt/trainer.h"
#include "host/cli.h"
#include "host/compare.h"
#include "host/console.h"
#include "host/out_dir.h"
#include "host/report.h"
#include "host/train_record.h"

static int fail(const dpt_err *err)
{
  fprintf(stderr, "dptrain: error: %s\n", err->msg);
  return dpt_exit_status(err->code);
}

static void print_summary(const dpt_result *r)
{
  printf("done: test_acc %.4f  final_loss %.4f  %.0f samples/s (%d %s worker%s, %s)  "
         "params %zu  hash %016llx  wall %.1fs\n",
         r->test_accuracy, r->final_train_loss, r->train_samples_per_sec, r->workers, r->device,
         r->workers == 1 ? "" : "s", r->strategy, r->params, (unsigned long long)r->params_hash,
         r->wall_s);
}

/* dptrain compare ...: argv[0] is "compare". */
static int compare_main(int argc, char **argv)
{
  dpt_compare_options opts;
  dpt_cli_action action;
  dpt_err err = {0};
  if (dpt_compare_parse(argc, argv, &opts, &action, &err)) return fail(&err);
  if (action == DPT_CLI_HELP) {
    dpt_compare_print_help(stdout);
    return 0;
  }
  if (action == DPT_CLI_VERSION) {
    dpt_cli_print_version(stdout);
    return 0;
  }
  char dir[4096];
  bool created;
  if (dpt_out_dir_prepare(opts.out_dir, dir, sizeof dir, &created, &err)) return fail(&err);
  if (dpt_compare_run(&opts, dir, stdout, &err)) {
    if (created) rmdir(dir); /* only if nothing was written into it */
    return fail(&err);
  }
  return 0;
}

/* Refuses, before any training, an output file whose folder is missing or not writable. */
static int check_outputs(const dpt_config *cfg, dpt_err *err)
{
  const char *opts[] = {"--report", "--metrics", "--trace"};
  const char *paths[] = {cfg->report_path, cfg->metrics_path, cfg->trace_path};
  for (int i = 0; i < 3; i++)
    if (paths[i] && dpt_output_path_check(opts[i], paths[i], err)) return err->code;
  return DPT_OK;
}

int main(int argc, char **argv)
{
  if (argc > 1 && strcmp(argv[1], "compare") == 0) return compare_main(argc - 1, argv + 1);
  dpt_config cfg;
  dpt_cli_action action;
  dpt_err err = {0};
  if (dpt_cli_parse(argc, argv, &cfg, &action, &err)) return fail(&err);
  if (action == DPT_CLI_HELP) {
    dpt_cli_print_help(stdout);
    return 0;
  }
  if (action == DPT_CLI_VERSION) {
    dpt_cli_print_version(stdout);
    return 0;
  }
  if (check_outputs(&cfg, &err)) return fail(&err);

  dpt_console console;
  dpt_console_init(&console, stdout, stderr, cfg.quiet);
  dpt_observer obs = dpt_console_observer(&console);
  dpt_result result;
  if (dpt_train_recorded(&cfg, &obs, &result, &err)) return fail(&err);
  if (!cfg.quiet) print_summary(&result);
  return 0;
}
