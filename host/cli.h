/* The command line: options -> dpt_config, --help and --version text. */
#ifndef DPT_HOST_CLI_H
#define DPT_HOST_CLI_H

#include <stdio.h>

#include "dpt/config.h"
#include "dpt/status.h"

typedef enum { DPT_CLI_TRAIN = 0, DPT_CLI_HELP, DPT_CLI_VERSION } dpt_cli_action;

/* Parses argv (argv[0] is the program). Errors are DPT_EINPUT naming the option and the value. */
int dpt_cli_parse(int argc, char **argv, dpt_config *cfg, dpt_cli_action *action, dpt_err *err);

void dpt_cli_print_help(FILE *out);
void dpt_cli_print_version(FILE *out);

#endif
