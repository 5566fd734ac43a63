/* The settings every MPI process must share (host/train/config_agree.h): one row per compared
 * option, keyed by the option's name, saying where its value lives in dpt_config and how to write
 * it. Each process writes every row's value as text; the texts are gathered and compared, so a
 * difference is reported in the words of the command line.
 * Not compared, on purpose: --data (the processes compare the data's sizes, and a node may hold
 * its own copy), the outputs rank 0 alone writes (--report, --metrics, --metrics-every, --trace,
 * --trace-steps, --quiet), and --ps-shards and --ps-threads (process 0's server alone uses them;
 * they change no bit). */
#include "host/train/config_agree.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dpt/ps.h"
#include "mpi/mpi_chan.h"

enum { VALUE_TEXT = DPT_MODEL_TEXT_MAX }; /* the longest: a --model spec */

typedef enum {
  AS_INT,
  AS_INT_OR_AUTO, /* 0 is "auto" */
  AS_LONG,
  AS_U64,
  AS_FLOAT,
  AS_DOUBLE,
  AS_FLAG,  /* a bool: "given" or "not given" */
  AS_GIVEN, /* a path: whether it was given (process 0 alone reads or writes the file) */
  AS_CHOICE,
  AS_HIDDEN, /* the hidden sizes, "32,16" */
  AS_TEXT,   /* a string as given (--model) */
  AS_STALENESS /* a number or "inf" */
} value_form;

typedef struct agree_row {
  const char *option;
  value_form form;
  size_t offset;            /* of the value in dpt_config */
  const char *const *names; /* AS_CHOICE: the value's names, by value */
} agree_row;

static const char *const decay_names[] = {"cosine", "step", "constant"};
static const char *const strategy_names[] = {"allreduce", "ps"};
static const char *const device_names[] = {"auto", "cpu", "cuda"};
static const char *const on_nan_names[] = {"stop", "skip"};
static const char *const on_failure_names[] = {"stop", "continue"};

#define AT(field) offsetof(dpt_config, field)
static const agree_row rows[] = {
    {"--model", AS_TEXT, AT(model), NULL},
    {"--hidden", AS_HIDDEN, AT(hidden), NULL},
    {"--epochs", AS_INT, AT(epochs), NULL},
    {"--batch", AS_INT, AT(batch), NULL},
    {"--lr", AS_FLOAT, AT(schedule.base_lr), NULL},
    {"--lr-schedule", AS_CHOICE, AT(schedule.decay), decay_names},
    {"--warmup-epochs", AS_FLOAT, AT(schedule.warmup_epochs), NULL},
    {"--lr-step-epochs", AS_INT, AT(schedule.step_epochs), NULL},
    {"--lr-gamma", AS_FLOAT, AT(schedule.gamma), NULL},
    {"--momentum", AS_FLOAT, AT(momentum), NULL},
    {"--weight-decay", AS_FLOAT, AT(weight_decay), NULL},
    {"--seed", AS_U64, AT(seed), NULL},
    {"--workers", AS_INT_OR_AUTO, AT(workers), NULL},
    {"--strategy", AS_CHOICE, AT(strategy), strategy_names},
    {"--device", AS_CHOICE, AT(device), device_names},
    {"--check-replicas", AS_FLAG, AT(check_replicas), NULL},
    {"--timeout", AS_DOUBLE, AT(timeout_s), NULL},
    {"--checkpoint", AS_GIVEN, AT(checkpoint_path), NULL},
    {"--checkpoint-every", AS_LONG, AT(checkpoint_every), NULL},
    {"--resume", AS_GIVEN, AT(resume_path), NULL},
    {"--on-nan", AS_CHOICE, AT(on_nan), on_nan_names},
    {"--staleness", AS_STALENESS, AT(staleness), NULL},
    {"--on-worker-failure", AS_CHOICE, AT(on_worker_failure), on_failure_names},
};
#undef AT
enum { ROWS = sizeof rows / sizeof *rows };

typedef char row_texts[ROWS][VALUE_TEXT];

/* The fewest digits that read back as v: "0.05", not "0.0500000007". */
static void shortest_float(float v, char *out, size_t size)
{
  for (int digits = 1; digits <= 9; digits++) {
    snprintf(out, size, "%.*g", digits, (double)v);
    if (strtof(out, NULL) == v) return;
  }
}

static void shortest_double(double v, char *out, size_t size)
{
  for (int digits = 1; digits <= 17; digits++) {
    snprintf(out, size, "%.*g", digits, v);
    if (strtod(out, NULL) == v) return;
  }
}

static void hidden_text(const dpt_config *cfg, char *out, size_t size)
{
  size_t len = 0;
  out[0] = '\0';
  for (int i = 0; i < cfg->n_hidden && len < size; i++)
    len += (size_t)snprintf(out + len, size - len, "%s%d", i ? "," : "", cfg->hidden[i]);
}

static void value_text(const dpt_config *cfg, const agree_row *row, char *out, size_t size)
{
  const void *at = (const char *)cfg + row->offset;
  switch (row->form) {
  case AS_INT: snprintf(out, size, "%d", *(const int *)at); break;
  case AS_INT_OR_AUTO:
    if (*(const int *)at == 0) snprintf(out, size, "auto");
    else snprintf(out, size, "%d", *(const int *)at);
    break;
  case AS_LONG: snprintf(out, size, "%ld", *(const long *)at); break;
  case AS_U64: snprintf(out, size, "%llu", (unsigned long long)*(const uint64_t *)at); break;
  case AS_FLOAT: shortest_float(*(const float *)at, out, size); break;
  case AS_DOUBLE: shortest_double(*(const double *)at, out, size); break;
  case AS_FLAG: snprintf(out, size, "%s", *(const bool *)at ? "given" : "not given"); break;
  case AS_GIVEN: snprintf(out, size, "%s", *(const char *const *)at ? "given" : "not given"); break;
  case AS_CHOICE: snprintf(out, size, "%s", row->names[*(const int *)at]); break;
  case AS_HIDDEN: hidden_text(cfg, out, size); break;
  case AS_TEXT: snprintf(out, size, "%s", *(const char *const *)at); break;
  case AS_STALENESS:
    snprintf(out, size, "%s", dpt_ps_staleness_text(*(const int *)at).text);
    break;
  }
}

/* The first row (in table order) where a process differs from process 0, and the first such
 * process: the same answer on every process, which all hold the same rows. */
static int compare(const row_texts *all, int procs, dpt_err *err)
{
  for (int r = 0; r < ROWS; r++)
    for (int p = 1; p < procs; p++)
      if (strcmp(all[p][r], all[0][r]) != 0)
        return dpt_err_set(err, DPT_EINPUT,
                           "%s differs between processes: %s on process 0, %s on process %d",
                           rows[r].option, all[0][r], all[p][r], p);
  return DPT_OK;
}

int dpt_config_agree(const dpt_config *cfg, bool *everyone_refuses, dpt_err *err)
{
  *everyone_refuses = false;
  if (cfg->procs <= 1) return DPT_OK;
  row_texts mine;
  memset(mine, 0, sizeof mine); /* whole rows travel: no stray bytes after the text */
  for (int r = 0; r < ROWS; r++) value_text(cfg, &rows[r], mine[r], VALUE_TEXT);
  row_texts *all = calloc((size_t)cfg->procs, sizeof *all);
  if (!all) return dpt_err_set(err, DPT_ENOMEM, "settings over MPI: out of memory");
  dpt_mpi_chan *chan = NULL;
  int rc = dpt_mpi_chan_open("settings", cfg->timeout_s, &chan, err);
  if (!rc) rc = dpt_mpi_chan_allgather(chan, mine, sizeof mine, all, err);
  dpt_mpi_chan_close(chan);
  if (!rc) {
    rc = compare(all, cfg->procs, err);
    *everyone_refuses = rc != DPT_OK;
  }
  free(all);
  return rc;
}
