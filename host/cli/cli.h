/* The command line: options -> dpt_config, --help and --version text. */
#ifndef DPT_HOST_CLI_CLI_H
#define DPT_HOST_CLI_CLI_H

#include <stdio.h>

#include "dpt/config.h"
#include "dpt/status.h"
#include "host/cli/option_table.h"

typedef enum { DPT_CLI_TRAIN = 0, DPT_CLI_HELP, DPT_CLI_VERSION } dpt_cli_action;

/* Parses argv (argv[0] is the program). Errors are DPT_EINPUT naming the option and the value. */
int dpt_cli_parse(int argc, char **argv, dpt_config *cfg, dpt_cli_action *action, dpt_err *err);

/* The training options' rows, storing into cfg (host/cli/train_options.c). */
dpt_option_table dpt_cli_train_options(dpt_config *cfg);

/* dpt_cli_parse with a subcommand's own rows (extra may be NULL) before the training options:
 * they replace training options of the same name. Without dpt_cli_parse's training-only checks. */
int dpt_cli_parse_with(int argc, char **argv, const dpt_option_table *extra, dpt_config *cfg,
                       dpt_cli_action *action, dpt_err *err);

/* The first parameter-server option cfg was given ("--ps-shards", "--ps-threads", "--staleness"),
 * or NULL: for refusing them when no ps runs. */
const char *dpt_cli_ps_option_given(const dpt_config *cfg);

/* Names of the dpt_strategy values, by value, NULL-terminated. */
extern const char *const dpt_cli_strategy_names[];

void dpt_cli_print_help(FILE *out);
/* The help sections of extra's rows (may be NULL) and of the training options they leave, then
 * the --help/--version and exit-status lines. */
void dpt_cli_print_options(FILE *out, const dpt_option_table *extra);
void dpt_cli_print_version(FILE *out);

#endif
