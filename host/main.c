/* dptrain: options -> run -> report. The only place that prints errors and chooses exit codes. */
#include <stdio.h>

#include "dpt/trainer.h"
#include "host/cli.h"
#include "host/console.h"
#include "host/report.h"

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

int main(int argc, char **argv)
{
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
  if (cfg.report_path && dpt_output_path_check("--report", cfg.report_path, &err))
    return fail(&err);

  dpt_console console;
  dpt_console_init(&console, stdout, stderr, cfg.quiet);
  dpt_observer obs = dpt_console_observer(&console);
  dpt_result result;
  if (dpt_train(&cfg, &obs, &result, &err)) return fail(&err);
  if (!cfg.quiet) print_summary(&result);
  if (cfg.report_path && dpt_report_write(cfg.report_path, &cfg, &result, &err)) return fail(&err);
  return 0;
}
