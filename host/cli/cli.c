/* The command line of dptrain: the training options (host/cli/train_options.c) parsed, checked
 * together, and the --help and --version text. */
#include "host/cli/cli.h"

#include <string.h>

#include "dpt/device.h"
#include "mpi/mpi_env.h"

void dpt_cli_print_options(FILE *out, const dpt_option_table *extra)
{
  dpt_config scratch;
  dpt_option_table tables[2];
  size_t n = 0;
  if (extra) tables[n++] = *extra;
  tables[n++] = dpt_cli_train_options(&scratch);
  dpt_options_print_help(out, tables, n);
  dpt_options_print_actions(out, tables, n);
  fputs("\n"
        "Exit status: 0 success, 1 runtime failure, 2 bad input (options, values, files),\n"
        "130 or 143 stopped by SIGINT or SIGTERM (a second one exits at once).\n",
        out);
}

void dpt_cli_print_help(FILE *out)
{
  fputs("usage: dptrain [options]\n"
        "       dptrain compare [options]   (see dptrain compare --help)\n"
        "Data-parallel training of a classifier (an MLP or a CNN, --model): one worker thread\n"
        "per device, gradients exchanged by allreduce or by a parameter server.\n"
        "\n",
        out);
  dpt_cli_print_options(out, NULL);
}

void dpt_cli_print_version(FILE *out)
{
  fprintf(out, "dptrain %s\nbackends: %s; %s\n", DPT_VERSION, dpt_backends_summary(),
          dpt_mpi_summary());
}

int dpt_cli_parse_with(int argc, char **argv, const dpt_option_table *extra, dpt_config *cfg,
                       dpt_cli_action *action, dpt_err *err)
{
  dpt_config_defaults(cfg);
  dpt_option_table tables[2];
  size_t n = 0;
  if (extra) tables[n++] = *extra;
  tables[n++] = dpt_cli_train_options(cfg);
  int chosen = DPT_CLI_TRAIN;
  int rc = dpt_options_parse(argc, argv, tables, n, &chosen, err);
  *action = (dpt_cli_action)chosen;
  return rc;
}

const char *dpt_cli_ps_option_given(const dpt_config *cfg)
{
  return cfg->ps_shards > 0    ? "--ps-shards"
         : cfg->ps_threads > 0 ? "--ps-threads"
         : cfg->staleness > 0  ? "--staleness"
                               : NULL;
}

/* What --staleness S >= 1 does not do (docs/ps.md "Checkpoints with staleness"). */
static int check_staleness(const dpt_config *cfg, dpt_err *err)
{
  if (cfg->staleness == 0 || cfg->checkpoint_every == 0) return DPT_OK;
  return dpt_err_set(err, DPT_EINPUT,
                     "--staleness %s: --checkpoint-every is not supported: with stale training a "
                     "checkpoint is a consistent cut at an epoch's end (the workers are not in "
                     "step in between)",
                     dpt_ps_staleness_text(cfg->staleness).text);
}

int dpt_cli_parse(int argc, char **argv, dpt_config *cfg, dpt_cli_action *action, dpt_err *err)
{
  int rc = dpt_cli_parse_with(argc, argv, NULL, cfg, action, err);
  if (rc) return rc;
  const char *ps_option = dpt_cli_ps_option_given(cfg);
  if (cfg->strategy != DPT_STRATEGY_PS && ps_option)
    return dpt_err_set(err, DPT_EINPUT, "%s: only meaningful with --strategy ps", ps_option);
  if (cfg->checkpoint_every > 0 && !cfg->checkpoint_path)
    return dpt_err_set(err, DPT_EINPUT, "--checkpoint-every: needs --checkpoint FILE");
  if (cfg->on_worker_failure == DPT_ON_FAILURE_CONTINUE &&
      (cfg->strategy != DPT_STRATEGY_PS || cfg->staleness == 0))
    return dpt_err_set(err, DPT_EINPUT,
                       "--on-worker-failure continue: needs --strategy ps --staleness S >= 1 (a "
                       "synchronous round cannot go on without a worker)");
  return check_staleness(cfg, err);
}
