#include "host/compare/compare_table.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dpt/ps.h"

static const char *const csv_header[DPT_COMPARE_COLS] = {
  "strategy", "workers", "staleness", "samples_per_sec", "speedup", "efficiency",
  "compute_ms_per_step", "comm_ms_per_step", "wait_ms_per_step", "wait_fraction",
  "bytes_per_step_per_worker", "final_train_loss", "test_accuracy", "time_to_target_s"};

/* The last column's header is the table's target_header. */
static const char *const human_header[DPT_COMPARE_COLS - 1] = {
  "strategy", "workers", "staleness", "samples/s", "speed-up", "efficiency", "compute ms/step",
  "comm ms/step", "wait ms/step", "wait fraction", "bytes/step/worker", "final loss", "test acc"};

bool dpt_compare_is_ps(const dpt_result *r) { return strcmp(r->strategy, "ps") == 0; }

void dpt_compare_series(const char *strategy, int staleness, char *buf, size_t size)
{
  if (staleness == 0) snprintf(buf, size, "%s", strategy);
  else snprintf(buf, size, "%s S=%s", strategy, dpt_ps_staleness_text(staleness).text);
}

void dpt_compare_label(const char *strategy, int staleness, int workers, char *buf, size_t size)
{
  char series[48];
  dpt_compare_series(strategy, staleness, series, sizeof series);
  snprintf(buf, size, "%s, %d worker%s", series, workers, workers == 1 ? "" : "s");
}

int dpt_compare_baseline(const dpt_compared_run *runs, int n, int i)
{
  const dpt_result *r = &runs[i].result;
  for (int j = 0; j < n; j++)
    if (runs[j].result.workers == 1 && runs[j].result.staleness == r->staleness &&
        strcmp(runs[j].result.strategy, r->strategy) == 0)
      return j;
  return -1;
}

double dpt_compare_speedup(const dpt_compared_run *runs, int n, int i)
{
  int base = dpt_compare_baseline(runs, n, i);
  return base < 0 ? NAN
                  : runs[i].result.train_samples_per_sec / runs[base].result.train_samples_per_sec;
}

double dpt_compare_time_to_target(const dpt_compared_run *run, double target)
{
  for (int e = 0; e < run->n_epochs; e++)
    if (run->epoch_test_acc[e] >= target) return run->epoch_elapsed_s[e];
  return NAN;
}

static void cell(char *c, const char *fmt, double v)
{
  if (isnan(v)) snprintf(c, DPT_COMPARE_CELL, "n/a");
  else snprintf(c, DPT_COMPARE_CELL, fmt, v);
}

static void fill_row(const dpt_compared_run *runs, int n, int i, double target,
                     char (*c)[DPT_COMPARE_CELL])
{
  const dpt_result *r = &runs[i].result;
  double speedup = dpt_compare_speedup(runs, n, i);
  double per_step_ms = r->steps > 0 ? 1e3 / (double)r->steps : 0;
  snprintf(c[0], DPT_COMPARE_CELL, "%s", r->strategy);
  snprintf(c[1], DPT_COMPARE_CELL, "%d", r->workers);
  snprintf(c[2], DPT_COMPARE_CELL, "%s",
           dpt_compare_is_ps(r) ? dpt_ps_staleness_text(r->staleness).text : "-");
  cell(c[3], "%.0f", r->train_samples_per_sec);
  cell(c[4], "%.2f", speedup);
  cell(c[5], "%.2f", speedup / r->workers);
  cell(c[6], "%.2f", r->time_compute_s * per_step_ms);
  cell(c[7], "%.2f", r->time_comm_s * per_step_ms);
  cell(c[8], "%.2f", r->time_wait_s * per_step_ms);
  cell(c[9], "%.3f", r->wait_fraction);
  snprintf(c[10], DPT_COMPARE_CELL, "%zu", r->bytes_per_step);
  cell(c[11], "%.4f", r->final_train_loss);
  cell(c[12], "%.4f", r->test_accuracy);
  double reached = target > 0 ? dpt_compare_time_to_target(&runs[i], target) : NAN;
  if (target > 0 && isnan(reached)) snprintf(c[13], DPT_COMPARE_CELL, "not reached");
  else cell(c[13], "%.1f", reached);
}

int dpt_compare_table_make(const dpt_compared_run *runs, int n, double target,
                           dpt_compare_table *t, dpt_err *err)
{
  t->rows = n;
  t->cells = calloc((size_t)n, sizeof *t->cells);
  if (!t->cells) return dpt_err_set(err, DPT_ENOMEM, "compare: out of memory");
  for (int i = 0; i < n; i++) fill_row(runs, n, i, target, t->cells[i]);
  if (target > 0) snprintf(t->target_header, sizeof t->target_header, "time to acc %g (s)", target);
  else snprintf(t->target_header, sizeof t->target_header, "time to target (s)");
  return DPT_OK;
}

void dpt_compare_table_free(dpt_compare_table *t)
{
  free(t->cells);
  t->cells = NULL;
}

static const char *header(const dpt_compare_table *t, int col)
{
  return col < DPT_COMPARE_COLS - 1 ? human_header[col] : t->target_header;
}

void dpt_compare_table_csv(const dpt_compare_table *t, FILE *f)
{
  for (int c = 0; c < DPT_COMPARE_COLS; c++)
    fprintf(f, "%s%s", csv_header[c], c + 1 < DPT_COMPARE_COLS ? "," : "\n");
  for (int r = 0; r < t->rows; r++)
    for (int c = 0; c < DPT_COMPARE_COLS; c++)
      fprintf(f, "%s%s", t->cells[r][c], c + 1 < DPT_COMPARE_COLS ? "," : "\n");
}

void dpt_compare_table_markdown(const dpt_compare_table *t, FILE *f)
{
  for (int c = 0; c < DPT_COMPARE_COLS; c++) fprintf(f, "| %s ", header(t, c));
  fputs("|\n", f);
  /* Names left, figures right. */
  for (int c = 0; c < DPT_COMPARE_COLS; c++) fputs(c == 0 ? "|:---" : "|---:", f);
  fputs("|\n", f);
  for (int r = 0; r < t->rows; r++) {
    for (int c = 0; c < DPT_COMPARE_COLS; c++) fprintf(f, "| %s ", t->cells[r][c]);
    fputs("|\n", f);
  }
}

void dpt_compare_table_text(const dpt_compare_table *t, FILE *f)
{
  int width[DPT_COMPARE_COLS];
  for (int c = 0; c < DPT_COMPARE_COLS; c++) {
    width[c] = (int)strlen(header(t, c));
    for (int r = 0; r < t->rows; r++) {
      int len = (int)strlen(t->cells[r][c]);
      if (len > width[c]) width[c] = len;
    }
  }
  for (int r = -1; r < t->rows; r++) {
    for (int c = 0; c < DPT_COMPARE_COLS; c++) {
      const char *s = r < 0 ? header(t, c) : t->cells[r][c];
      fprintf(f, c == 0 ? "%-*s" : "  %*s", width[c], s);
    }
    fputc('\n', f);
  }
}
