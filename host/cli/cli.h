/* The command line: options -> dpt_config, --help and --version text. */
#ifndef DPT_HOST_CLI_CLI_H
#define DPT_HOST_CLI_CLI_H

#include <getopt.h>
#include <stdio.h>

#include "dpt/config.h"
#include "dpt/status.h"

typedef enum { DPT_CLI_TRAIN = 0, DPT_CLI_HELP, DPT_CLI_VERSION } dpt_cli_action;

/* Parses argv (argv[0] is the program). Errors are DPT_EINPUT naming the option and the value. */
int dpt_cli_parse(int argc, char **argv, dpt_config *cfg, dpt_cli_action *action, dpt_err *err);

/* A subcommand's own options beside the training options (dptrain compare). Its options, with
 * ids from DPT_CLI_EXTRA_ID up, replace training options of the same name; apply handles them. */
enum { DPT_CLI_EXTRA_ID = 1000 };
typedef struct dpt_cli_extra {
  const struct option *options; /* ends with a zeroed entry */
  int (*apply)(void *ctx, int id, const char *value, dpt_config *cfg, dpt_err *err);
  void *ctx;
} dpt_cli_extra;

/* dpt_cli_parse with extra options (extra may be NULL), without its training-only checks. */
int dpt_cli_parse_with(int argc, char **argv, const dpt_cli_extra *extra, dpt_config *cfg,
                       dpt_cli_action *action, dpt_err *err);

/* The first parameter-server option cfg was given ("--ps-shards", "--ps-threads"), or NULL: for
 * refusing them when no ps runs. */
const char *dpt_cli_ps_option_given(const dpt_config *cfg);

/* Names of the dpt_strategy values, by value, NULL-terminated. */
extern const char *const dpt_cli_strategy_names[];

void dpt_cli_print_help(FILE *out);
/* The training options' help sections, and the closing --help/--version and exit-status lines. */
void dpt_cli_print_training_options(FILE *out);
void dpt_cli_print_footer(FILE *out);
void dpt_cli_print_version(FILE *out);

#endif
