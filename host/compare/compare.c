/* dptrain compare: the runs, one after another, then the table and the charts. */
#include "host/compare/compare.h"

#include <limits.h>
#include <stdlib.h>

#include "dpt/atomic_file.h"
#include "host/compare/charts.h"
#include "host/compare/compare_files.h"
#include "host/compare/compare_plan.h"
#include "host/compare/compare_table.h"
#include "host/compare/out_dir.h"
#include "host/cli/console.h"
#include "host/record/observer_tee.h"
#include "host/train/run_files.h"
#include "host/train/train_record.h"

/* Records each epoch's test accuracy and when it was reached (from worker 0's thread; read after
 * dpt_train returned, i.e. after the threads were joined). */
static void record_epoch(void *ctx, const dpt_epoch_stats *s)
{
  dpt_compared_run *run = ctx;
  run->epoch_elapsed_s[s->epoch - 1] = s->elapsed_s;
  run->epoch_test_acc[s->epoch - 1] = s->test_accuracy;
  run->n_epochs = s->epoch;
}

static void free_runs(dpt_compared_run *runs, int n)
{
  for (int i = 0; runs && i < n; i++) {
    free(runs[i].epoch_elapsed_s);
    free(runs[i].epoch_test_acc);
  }
  free(runs);
}

static int alloc_runs(int n, int epochs, dpt_compared_run **out, dpt_err *err)
{
  dpt_compared_run *runs = calloc((size_t)n, sizeof *runs);
  bool ok = runs != NULL;
  for (int i = 0; ok && i < n; i++) {
    runs[i].epoch_elapsed_s = calloc((size_t)epochs, sizeof(double));
    runs[i].epoch_test_acc = calloc((size_t)epochs, sizeof(double));
    ok = runs[i].epoch_elapsed_s && runs[i].epoch_test_acc;
  }
  if (!ok) {
    free_runs(runs, n);
    return dpt_err_set(err, DPT_ENOMEM, "compare: out of memory");
  }
  *out = runs;
  return DPT_OK;
}

/* Room for dir (shorter than PATH_MAX) and a run's file name: a path too long is refused whole. */
enum { RUN_PATH = PATH_MAX + 64 };

/* Run i of the plan. Its report and metrics go to dir, their paths into report and metrics
 * (RUN_PATH bytes each). */
static dpt_config run_settings(const dpt_compare_options *o, const dpt_compare_plan *plan,
                               const char *dir, int i, char *report, char *metrics, char *label,
                               size_t label_size)
{
  const dpt_compare_run_spec *run = &plan->run[i];
  dpt_config cfg = o->train;
  cfg.strategy = run->strategy;
  cfg.workers = run->workers;
  cfg.staleness = run->staleness;
  cfg.target_acc = o->target_acc; /* the reports' steps_to_target and seconds_to_target */
  cfg.ps_shards = cfg.strategy == DPT_STRATEGY_PS ? o->train.ps_shards : 0;
  cfg.ps_threads = cfg.strategy == DPT_STRATEGY_PS ? o->train.ps_threads : 0;
  const char *name = dpt_strategy_name(cfg.strategy);
  char file[64];
  dpt_compare_label(name, run->staleness, cfg.workers, label, label_size);
  dpt_compare_run_file(file, sizeof file, name, run->staleness, cfg.workers, "json");
  snprintf(report, RUN_PATH, "%s/%s", dir, file);
  dpt_compare_run_file(file, sizeof file, name, run->staleness, cfg.workers, "csv");
  snprintf(metrics, RUN_PATH, "%s/%s", dir, file);
  cfg.report_path = report;
  cfg.metrics_path = metrics;
  return cfg;
}

/* Every run's files, checked before the first run trains (host/train/run_files.h). */
static int check_run_files(const dpt_compare_options *o, const dpt_compare_plan *plan,
                           const char *dir, dpt_err *err)
{
  char label[64], report[RUN_PATH], metrics[RUN_PATH];
  for (int i = 0; i < plan->n; i++) {
    dpt_config cfg = run_settings(o, plan, dir, i, report, metrics, label, sizeof label);
    dpt_err why = {0};
    if (dpt_run_files_check(&cfg, &why))
      return dpt_err_set(err, why.code, "compare (%s): %s", label, why.msg);
  }
  return DPT_OK;
}

static int run_one(const dpt_compare_options *o, const dpt_compare_plan *plan, const char *dir,
                   int i, dpt_observer shown, dpt_compared_run *run, FILE *out, dpt_err *err)
{
  int n = plan->n;
  char label[64], report[RUN_PATH], metrics[RUN_PATH];
  dpt_config cfg = run_settings(o, plan, dir, i, report, metrics, label, sizeof label);

  dpt_observer_tee tee = {0};
  dpt_observer curve = {.ctx = run, .on_epoch = record_epoch};
  int rc = dpt_observer_tee_add(&tee, &shown, err);
  if (!rc) rc = dpt_observer_tee_add(&tee, &curve, err);
  if (rc) return rc;
  dpt_observer obs = dpt_observer_tee_observer(&tee);

  fprintf(out, "compare: run %d/%d: %s\n", i + 1, n, label);
  fflush(out);
  dpt_err why = {0};
  rc = dpt_train_recorded(&cfg, &obs, &run->result, &why);
  if (rc)
    return dpt_err_set(err, rc, "compare (%s): %s", label, why.msg);
  const dpt_result *r = &run->result;
  fprintf(out, "compare: run %d/%d done: %.0f samples/s, test_acc %.4f, final_loss %.4f, %.1fs\n",
          i + 1, n, r->train_samples_per_sec, r->test_accuracy, r->final_train_loss, r->wall_s);
  fflush(out);
  return DPT_OK;
}

static void write_markdown(FILE *f, const dpt_compare_options *o, const dpt_compare_table *t)
{
  const dpt_config *c = &o->train;
  fprintf(f, "# dptrain compare\n\n"
             "Data `%s`, %d epoch%s, global batch %d, learning rate %g, seed %llu.\n"
             "Step times are per step and averaged over the workers; bytes are what one worker "
             "sends plus receives per step.\n\n",
          c->data_dir, c->epochs, c->epochs == 1 ? "" : "s", c->batch, (double)c->schedule.base_lr,
          (unsigned long long)c->seed);
  dpt_compare_table_markdown(t, f);
}

static int write_tables(const char *dir, const dpt_compare_options *o, const dpt_compare_table *t,
                        dpt_err *err)
{
  char path[4200];
  dpt_atomic_file af;
  snprintf(path, sizeof path, "%s/compare.csv", dir);
  int rc = dpt_atomic_open(&af, path, err);
  if (rc) return rc;
  dpt_compare_table_csv(t, af.f);
  if ((rc = dpt_atomic_commit(&af, err))) return rc;
  snprintf(path, sizeof path, "%s/compare.md", dir);
  if ((rc = dpt_atomic_open(&af, path, err))) return rc;
  write_markdown(af.f, o, t);
  return dpt_atomic_commit(&af, err);
}

/* The table on the terminal and in files, then the charts; last, the earlier compare's files
 * that this one did not replace go. */
static int summarize(const dpt_compare_options *o, const dpt_compare_plan *plan, const char *dir,
                     const dpt_compared_run *runs, FILE *out, dpt_err *err)
{
  int n = plan->n;
  dpt_compare_table table;
  int rc = dpt_compare_table_make(runs, n, o->target_acc, &table, err);
  if (rc) return rc;
  fputc('\n', out);
  dpt_compare_table_text(&table, out);
  rc = write_tables(dir, o, &table, err);
  dpt_compare_table_free(&table);
  bool drawn = false;
  if (!rc)
    rc = dpt_charts_make(dir, runs, n, o->target_acc, plan->staleness_values, &drawn, err);
  if (rc) return rc;
  /* Also with --quiet: a missing chart is worth a line. */
  if (!drawn) fputs("dptrain: notice: gnuplot is not on PATH: no PNG charts; their .dat data and "
                    ".gp scripts are written\n", stderr);
  dpt_compare_files written;
  dpt_compare_files_of(plan, o->target_acc, drawn, &written);
  int removed;
  if ((rc = dpt_out_dir_remove_earlier(dir, &written, &removed, err))) return rc;
  fprintf(out, "\ncompare: wrote %s/: compare.csv, compare.md, run-*.json, run-*.csv, *.dat, "
               "*.gp%s", dir, drawn ? ", *.png, " DPT_CHARTS_LOG : "");
  if (removed)
    fprintf(out, "; removed %d file%s of an earlier compare", removed, removed == 1 ? "" : "s");
  fputc('\n', out);
  return DPT_OK;
}

int dpt_compare_run(const dpt_compare_options *o, const char *dir, FILE *out,
                    bool (*should_stop)(void *ctx), dpt_err *err)
{
  dpt_compare_plan *plan = malloc(sizeof *plan);
  if (!plan) return dpt_err_set(err, DPT_ENOMEM, "compare: out of memory");
  dpt_compare_plan_make(o, plan);
  int n = plan->n;
  dpt_compared_run *runs = NULL;
  int rc = check_run_files(o, plan, dir, err);
  if (!rc) rc = alloc_runs(n, o->train.epochs, &runs, err);
  if (rc) {
    free(plan);
    return rc;
  }
  dpt_console console;
  dpt_console_init(&console, out, stderr, o->train.quiet);
  dpt_observer shown = dpt_console_observer(&console);
  shown.should_stop = should_stop;
  for (int i = 0; i < n && !rc; i++) rc = run_one(o, plan, dir, i, shown, &runs[i], out, err);
  if (!rc) rc = summarize(o, plan, dir, runs, out, err);
  free_runs(runs, n);
  free(plan);
  return rc;
}
