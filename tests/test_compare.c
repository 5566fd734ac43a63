/* What `dptrain compare` is built from, on a generated data set: the metrics CSV (rows and
 * columns; each step's loss summed over every worker's shard), the Chrome trace (valid JSON, a
 * track per worker and one for the parameter server, bounded), the comparison table's figures,
 * and the compare command line. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dpt/cores.h"
#include "dpt/ps.h"
#include "host/compare/charts.h"
#include "host/compare/compare.h"
#include "host/compare/compare_files.h"
#include "host/compare/compare_plan.h"
#include "host/compare/compare_table.h"
#include "host/train/train_record.h"
#include "tests/lib/json_check.h"
#include "tests/lib/synth_data.h"
#include "tests/lib/test_util.h"
#include "tests/lib/train_fixture.h"

static char data_dir[4096];

enum { TRAIN = 600, BATCH = 50, STEPS_PER_EPOCH = TRAIN / BATCH }; /* BATCH: the fixture's */

static int make_data(void)
{
  dpt_test_path(data_dir, sizeof data_dir, "synth");
  char cmd[4200];
  snprintf(cmd, sizeof cmd, "mkdir -p '%s'", data_dir);
  if (system(cmd) != 0) return -1;
  return dpt_synth_write(data_dir, TRAIN, 200, 6, 7, 5, 42);
}

/* The trainer tests' run, smaller: one hidden layer of 16, 2 epochs of 12 full batches. */
static void base_config(dpt_config *cfg)
{
  dpt_test_train_config(cfg, data_dir);
  cfg->hidden[0] = 16;
  cfg->n_hidden = 1;
  cfg->epochs = 2;
}

/* A run with its files, which must be in place with no temporary file left beside them. */
static dpt_result train_recorded_ok(const dpt_config *cfg)
{
  dpt_result r;
  dpt_err err = {0};
  int rc = dpt_train_recorded(cfg, NULL, &r, &err);
  if (rc) fprintf(stderr, "train failed: %s\n", err.msg);
  CU_ASSERT_FATAL(rc == 0);
  const char *files[] = {cfg->metrics_path, cfg->trace_path};
  for (int i = 0; i < 2; i++) {
    if (!files[i]) continue;
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", files[i], (long)getpid());
    CU_ASSERT(access(files[i], F_OK) == 0 && access(tmp, F_OK) != 0);
  }
  return r;
}

/* base_config writing a metrics row every `every` steps to the temp folder's `name`. */
static void metrics_config(dpt_config *cfg, char *path, size_t size, const char *name, int every)
{
  base_config(cfg);
  cfg->metrics_path = dpt_test_path(path, size, name);
  cfg->metrics_every = every;
}

/* The whole file, NUL-terminated; NULL if it cannot be read. */
static char *slurp(const char *path, size_t *len)
{
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  rewind(f);
  char *text = malloc((size_t)size + 1);
  if (text && fread(text, 1, (size_t)size, f) != (size_t)size) {
    free(text);
    text = NULL;
  }
  fclose(f);
  if (text) text[size] = '\0';
  if (len) *len = (size_t)size;
  return text;
}

/* --- metrics ------------------------------------------------------------------------------ */

typedef struct metric_row {
  char kind[8], strategy[16], test_accuracy[16];
  long step;
  int epoch, workers;
  double loss, lr, samples_per_sec, elapsed_s;
} metric_row;

enum { MAX_ROWS = 64 };

static const char *metrics_header =
  "kind,step,epoch,workers,strategy,loss,lr,samples_per_sec,test_accuracy,elapsed_s\n";

/* Parses every row into rows (at most MAX_ROWS); returns the count, -1 for a malformed file. */
static int read_metrics(const char *path, metric_row *rows)
{
  char *text = slurp(path, NULL);
  if (!text || strncmp(text, metrics_header, strlen(metrics_header)) != 0) {
    free(text);
    return -1;
  }
  int n = 0;
  for (char *line = strtok(text + strlen(metrics_header), "\n"); line; line = strtok(NULL, "\n")) {
    metric_row *r = &rows[n];
    int fields = 0;
    for (const char *p = line; *p; p++) fields += *p == ',';
    if (n == MAX_ROWS || fields != 9) {
      free(text);
      return -1;
    }
    char *acc_start = line; /* the 9th column, after the 8th comma */
    for (int commas = 0; commas < 8; acc_start++) commas += *acc_start == ',';
    size_t acc_len = strcspn(acc_start, ",");
    if (acc_len >= sizeof r->test_accuracy ||
        sscanf(line, "%7[a-z],%ld,%d,%d,%15[a-z],%lf,%lf,%lf,", r->kind, &r->step, &r->epoch,
               &r->workers, r->strategy, &r->loss, &r->lr, &r->samples_per_sec) != 8 ||
        sscanf(acc_start + acc_len, ",%lf", &r->elapsed_s) != 1) {
      free(text);
      return -1;
    }
    memcpy(r->test_accuracy, acc_start, acc_len);
    r->test_accuracy[acc_len] = '\0';
    n++;
  }
  free(text);
  return n;
}

static void test_metrics_rows_match_the_run(void)
{
  dpt_config cfg;
  char path[4096];
  metrics_config(&cfg, path, sizeof path, "every4.csv", 4);
  cfg.workers = 3;
  cfg.strategy = DPT_STRATEGY_PS;
  dpt_result r = train_recorded_ok(&cfg);
  metric_row rows[MAX_ROWS];
  int n = read_metrics(path, rows);
  CU_ASSERT_FATAL(n > 0);
  int steps = 0, epochs = 0;
  for (int i = 0; i < n; i++) {
    bool step = strcmp(rows[i].kind, "step") == 0;
    CU_ASSERT(step || strcmp(rows[i].kind, "epoch") == 0);
    CU_ASSERT_EQUAL(rows[i].workers, 3);
    CU_ASSERT_STRING_EQUAL(rows[i].strategy, "ps");
    CU_ASSERT(rows[i].loss > 0 && rows[i].lr > 0 && rows[i].samples_per_sec > 0);
    CU_ASSERT(i == 0 || rows[i].elapsed_s >= rows[i - 1].elapsed_s);
    if (step) {
      steps++;
      CU_ASSERT_EQUAL(rows[i].step, 4L * steps);
      CU_ASSERT_STRING_EQUAL(rows[i].test_accuracy, "");
    } else {
      epochs++;
      CU_ASSERT_EQUAL(rows[i].step, (long)STEPS_PER_EPOCH * epochs);
      CU_ASSERT(atof(rows[i].test_accuracy) > 0.2); /* chance is 0.2 */
    }
  }
  CU_ASSERT_EQUAL(steps, r.steps / 4);
  CU_ASSERT_EQUAL(epochs, cfg.epochs);
}

/* The epoch's mean loss from the step rows; step_one gets the first step's loss. */
static double epoch_loss_from_steps(const dpt_config *cfg, const char *path, double *step_one,
                                    double *epoch_row_loss)
{
  train_recorded_ok(cfg);
  metric_row rows[MAX_ROWS];
  int n = read_metrics(path, rows);
  CU_ASSERT_FATAL(n == STEPS_PER_EPOCH + 1);
  double sum = 0;
  for (int i = 0; i < STEPS_PER_EPOCH; i++) sum += rows[i].loss; /* every global batch is full */
  *step_one = rows[0].loss;
  *epoch_row_loss = rows[n - 1].loss;
  return sum / STEPS_PER_EPOCH;
}

/* A step's loss covers every worker's shard: the step rows average to the epoch's loss, and the
 * first step (identical parameters) reads the same with 1 or 3 workers. Reading only worker 0's
 * shard would be about a third of it. */
static void test_step_loss_sums_every_worker(void)
{
  dpt_config cfg;
  char path[4096];
  metrics_config(&cfg, path, sizeof path, "every1.csv", 1);
  cfg.epochs = 1;
  double first_1, epoch_1, first_3, epoch_3;
  double mean_1 = epoch_loss_from_steps(&cfg, path, &first_1, &epoch_1);
  cfg.workers = 3; /* 17 + 17 + 16 rows of each batch of 50 */
  double mean_3 = epoch_loss_from_steps(&cfg, path, &first_3, &epoch_3);
  CU_ASSERT_DOUBLE_EQUAL(mean_1, epoch_1, 1e-5);
  CU_ASSERT_DOUBLE_EQUAL(mean_3, epoch_3, 1e-5);
  CU_ASSERT_DOUBLE_EQUAL(first_1, first_3, 1e-5);
}

static void test_failed_run_leaves_no_file(void)
{
  dpt_config cfg;
  base_config(&cfg);
  char metrics[4096], trace[4096];
  cfg.data_dir = "/nonexistent/dptrain-data";
  cfg.metrics_path = dpt_test_path(metrics, sizeof metrics, "failed.csv");
  cfg.trace_path = dpt_test_path(trace, sizeof trace, "failed.json");
  dpt_result r;
  dpt_err err = {0};
  CU_ASSERT_EQUAL(dpt_train_recorded(&cfg, NULL, &r, &err), DPT_EINPUT);
  CU_ASSERT(access(metrics, F_OK) != 0);
  CU_ASSERT(access(trace, F_OK) != 0);
  char tmp[4200];
  snprintf(tmp, sizeof tmp, "%s.tmp.%ld", metrics, (long)getpid());
  CU_ASSERT(access(tmp, F_OK) != 0);
}

/* --- trace -------------------------------------------------------------------------------- */

static int count(const char *text, const char *needle)
{
  int n = 0;
  for (const char *p = text; (p = strstr(p, needle)) != NULL; p += strlen(needle)) n++;
  return n;
}

static char *trace_of(dpt_config *cfg, const char *name)
{
  char path[4096];
  cfg->trace_path = dpt_test_path(path, sizeof path, name);
  train_recorded_ok(cfg);
  size_t len = 0, where = 0;
  char *text = slurp(path, &len);
  CU_ASSERT_FATAL(text != NULL);
  bool valid = dpt_json_valid(text, len, &where);
  if (!valid) fprintf(stderr, "\n  %s: invalid JSON at byte %zu\n", name, where);
  CU_ASSERT(valid);
  CU_ASSERT(strncmp(text, "{", 1) == 0 && strstr(text, "\"traceEvents\":[") != NULL);
  return text;
}

static void test_ps_trace_has_worker_and_server_tracks(void)
{
  dpt_config cfg;
  base_config(&cfg);
  cfg.workers = 2;
  cfg.strategy = DPT_STRATEGY_PS;
  cfg.ps_shards = 3;
  cfg.trace_steps = 5; /* of 24: the rest is dropped, and the file says so */
  char *t = trace_of(&cfg, "ps.json");
  CU_ASSERT(strstr(t, "\"args\":{\"name\":\"worker 0\"}") && strstr(t, "\"name\":\"worker 1\""));
  CU_ASSERT(strstr(t, "\"name\":\"parameter server (3 shards)\"") != NULL);
  for (int w = 0; w < 2; w++) {
    char span[64];
    snprintf(span, sizeof span, "\"tid\":%d,\"name\":\"compute\"", w);
    CU_ASSERT_EQUAL(count(t, span), 5);
    snprintf(span, sizeof span, "\"tid\":%d,\"name\":\"push-pull\"", w);
    CU_ASSERT_EQUAL(count(t, span), 5);
  }
  CU_ASSERT_EQUAL(count(t, "\"tid\":2,\"name\":\"optimizer\""), 5 * 3);
  CU_ASSERT(strstr(t, "\"args\":{\"step\":5") && !strstr(t, "\"args\":{\"step\":6"));
  CU_ASSERT(strstr(t, "\"traced_steps\":5,\"total_steps\":24,") != NULL);
  CU_ASSERT(strstr(t, "\"dropped_events\":0,") == NULL);
  free(t);
}

static void test_allreduce_trace_is_complete(void)
{
  dpt_config cfg;
  base_config(&cfg);
  cfg.workers = 3;
  char *t = trace_of(&cfg, "allreduce.json");
  CU_ASSERT(strstr(t, "parameter server") == NULL);
  for (int w = 0; w < 3; w++) {
    char span[64];
    snprintf(span, sizeof span, "\"tid\":%d,\"name\":\"compute\"", w);
    CU_ASSERT_EQUAL(count(t, span), 2 * STEPS_PER_EPOCH);
    snprintf(span, sizeof span, "\"tid\":%d,\"name\":\"allreduce\"", w);
    CU_ASSERT_EQUAL(count(t, span), 2 * STEPS_PER_EPOCH);
    snprintf(span, sizeof span, "\"tid\":%d,\"name\":\"eval\"", w);
    CU_ASSERT_EQUAL(count(t, span), 2);
  }
  CU_ASSERT(strstr(t, "\"dropped_events\":0,") != NULL);
  free(t);
}

static void test_json_check_rejects_broken_text(void)
{
  const char *good[] = {"{}", " [1, -2.5e3, \"a\\u00e9\", true, null, {\"k\": []}] "};
  const char *bad[] = {"", "{", "{\"a\":1,}", "[01]", "{\"a\" 1}", "\"\\x\"", "[1] [2]", "[.5]"};
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
    CU_ASSERT(dpt_json_valid(good[i], strlen(good[i]), NULL));
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    CU_ASSERT(!dpt_json_valid(bad[i], strlen(bad[i]), NULL));
}

/* --- the table ------------------------------------------------------------------------------ */

static void test_table_figures(void)
{
  double elapsed[] = {1, 2, 3}, acc[] = {0.5, 0.8, 0.9};
  dpt_compared_run runs[3] = {
    {.result = {.strategy = "allreduce", .workers = 1, .train_samples_per_sec = 1000, .steps = 10,
                .time_compute_s = 0.1}, .n_epochs = 3, .epoch_elapsed_s = elapsed,
     .epoch_test_acc = acc},
    {.result = {.strategy = "allreduce", .workers = 2, .train_samples_per_sec = 1500, .steps = 10},
     .n_epochs = 3, .epoch_elapsed_s = elapsed, .epoch_test_acc = acc},
    {.result = {.strategy = "ps", .workers = 2, .train_samples_per_sec = 1200, .steps = 10},
     .n_epochs = 2, .epoch_elapsed_s = elapsed, .epoch_test_acc = acc},
  };
  CU_ASSERT_DOUBLE_EQUAL(dpt_compare_speedup(runs, 3, 1), 1.5, 1e-12);
  CU_ASSERT(isnan(dpt_compare_speedup(runs, 3, 2))); /* no 1-worker ps run */
  CU_ASSERT_DOUBLE_EQUAL(dpt_compare_time_to_target(&runs[0], 0.8), 2, 0);
  CU_ASSERT(isnan(dpt_compare_time_to_target(&runs[2], 0.9))); /* reached only in epoch 3 */

  dpt_compare_table t;
  dpt_err err = {0};
  CU_ASSERT_FATAL(dpt_compare_table_make(runs, 3, 0.85, &t, &err) == 0);
  CU_ASSERT_STRING_EQUAL(t.cells[0][6], "10.00"); /* compute ms per step */
  CU_ASSERT_STRING_EQUAL(t.cells[1][4], "1.50");
  CU_ASSERT_STRING_EQUAL(t.cells[1][5], "0.75");
  CU_ASSERT_STRING_EQUAL(t.cells[1][13], "3.0");
  CU_ASSERT_STRING_EQUAL(t.cells[2][4], "n/a");
  CU_ASSERT_STRING_EQUAL(t.cells[2][5], "n/a");
  CU_ASSERT_STRING_EQUAL(t.cells[2][13], "not reached");
  char csv[2048] = "";
  FILE *f = fmemopen(csv, sizeof csv, "w");
  dpt_compare_table_csv(&t, f);
  fclose(f);
  CU_ASSERT_EQUAL(count(csv, "\n"), 1 + 3);
  CU_ASSERT_EQUAL(count(csv, ","), 4 * (DPT_COMPARE_COLS - 1));
  dpt_compare_table_free(&t);
  CU_ASSERT_FATAL(dpt_compare_table_make(runs, 3, 0, &t, &err) == 0);
  CU_ASSERT_STRING_EQUAL(t.cells[0][13], "n/a"); /* no --target-acc */
  dpt_compare_table_free(&t);
}

/* Staleness is a column ("-" for allreduce, to which it does not apply), beside the wait
 * fraction; a stale ps series has its own 1-worker baseline, not synchronous ps's. */
static void test_table_staleness_columns(void)
{
  double elapsed[] = {1}, acc[] = {0.5};
  dpt_compared_run runs[4] = {
    {.result = {.strategy = "allreduce", .workers = 1, .train_samples_per_sec = 1000,
                .wait_fraction = 0.125}},
    {.result = {.strategy = "ps", .workers = 1, .train_samples_per_sec = 800}},
    {.result = {.strategy = "ps", .workers = 1, .staleness = DPT_PS_STALENESS_INF,
                .train_samples_per_sec = 400}},
    {.result = {.strategy = "ps", .workers = 2, .staleness = DPT_PS_STALENESS_INF,
                .train_samples_per_sec = 600, .wait_fraction = 0.0625}},
  };
  for (int i = 0; i < 4; i++) {
    runs[i].n_epochs = 1;
    runs[i].epoch_elapsed_s = elapsed;
    runs[i].epoch_test_acc = acc;
  }
  CU_ASSERT_EQUAL(dpt_compare_baseline(runs, 4, 3), 2);
  CU_ASSERT_DOUBLE_EQUAL(dpt_compare_speedup(runs, 4, 3), 1.5, 1e-12);
  dpt_compare_table t;
  dpt_err err = {0};
  CU_ASSERT_FATAL(dpt_compare_table_make(runs, 4, 0, &t, &err) == 0);
  const char *staleness[] = {"-", "0", "inf", "inf"};
  for (int i = 0; i < 4; i++) CU_ASSERT_STRING_EQUAL(t.cells[i][2], staleness[i]);
  CU_ASSERT_STRING_EQUAL(t.cells[0][9], "0.125");
  CU_ASSERT_STRING_EQUAL(t.cells[3][9], "0.062");
  char csv[2048] = "", text[4096] = "";
  FILE *f = fmemopen(csv, sizeof csv, "w");
  dpt_compare_table_csv(&t, f);
  fclose(f);
  CU_ASSERT(strncmp(csv, "strategy,workers,staleness,samples_per_sec,", 43) == 0);
  CU_ASSERT_PTR_NOT_NULL(strstr(csv, ",wait_ms_per_step,wait_fraction,bytes_per_step_per_worker,"));
  CU_ASSERT_PTR_NOT_NULL(strstr(csv, "\nallreduce,1,-,1000,"));
  CU_ASSERT_PTR_NOT_NULL(strstr(csv, "\nps,2,inf,600,1.50,"));
  f = fmemopen(text, sizeof text, "w");
  dpt_compare_table_text(&t, f);
  fclose(f);
  CU_ASSERT_PTR_NOT_NULL(strstr(text, "  staleness  "));
  CU_ASSERT_PTR_NOT_NULL(strstr(text, "  wait fraction  "));
  dpt_compare_table_free(&t);
  char label[64];
  dpt_compare_label("ps", 4, 2, label, sizeof label);
  CU_ASSERT_STRING_EQUAL(label, "ps S=4, 2 workers");
  dpt_compare_label("ps", 0, 1, label, sizeof label);
  CU_ASSERT_STRING_EQUAL(label, "ps, 1 worker"); /* as before compare had staleness */
}

/* --- the runs and their files ---------------------------------------------------------------- */

static int parse(dpt_compare_options *o, dpt_err *err, const char *const *args);

/* allreduce once per worker count; ps once per staleness and worker count, staleness outermost;
 * run files of synchronous ps keep the names of compares before staleness. */
static void test_plan_and_run_files(void)
{
  dpt_compare_options o;
  dpt_err err;
  const char *args[] = {"--workers", "1,2", "--staleness", "0,4,inf", NULL};
  CU_ASSERT_FATAL(parse(&o, &err, args) == 0);
  dpt_compare_plan plan;
  dpt_compare_plan_make(&o, &plan);
  CU_ASSERT_FATAL(plan.n == 2 + 3 * 2);
  CU_ASSERT_EQUAL(plan.staleness_values, 3);
  static const char *const want[] = {"run-allreduce-w1.json", "run-allreduce-w2.json",
                                     "run-ps-w1.json",        "run-ps-w2.json",
                                     "run-ps-s4-w1.json",     "run-ps-s4-w2.json",
                                     "run-ps-sinf-w1.json",   "run-ps-sinf-w2.json"};
  for (int i = 0; i < plan.n; i++) {
    const dpt_compare_run_spec *r = &plan.run[i];
    char name[64];
    dpt_compare_run_file(name, sizeof name, dpt_strategy_name(r->strategy), r->staleness,
                         r->workers, "json");
    CU_ASSERT_STRING_EQUAL(name, want[i]);
    CU_ASSERT(dpt_compare_owns(name));
  }
  dpt_compare_files files;
  dpt_compare_files_of(&plan, 0.9, false, &files);
  CU_ASSERT(dpt_compare_files_has(&files, "run-ps-sinf-w2.csv"));
  CU_ASSERT(dpt_compare_files_has(&files, "wait_fraction.dat"));
  CU_ASSERT(dpt_compare_files_has(&files, "time_to_target.gp"));
  CU_ASSERT(!dpt_compare_files_has(&files, "wait_fraction.png")); /* not drawn */
  CU_ASSERT_EQUAL(files.n, 2 + 2 * 8 + 5 * 2);
  dpt_compare_files_of(&plan, 0, true, &files); /* no target: no time-to-target chart */
  CU_ASSERT(dpt_compare_files_has(&files, "wait_fraction.png"));
  CU_ASSERT(!dpt_compare_files_has(&files, "time_to_target.dat"));

  /* The default, synchronous ps only: today's runs and files, no staleness chart. */
  const char *sync_args[] = {"--workers", "1,2", "--target-acc", "0.9", NULL};
  CU_ASSERT_FATAL(parse(&o, &err, sync_args) == 0);
  dpt_compare_plan_make(&o, &plan);
  CU_ASSERT(plan.n == 4 && plan.staleness_values == 1);
  dpt_compare_files_of(&plan, 0.9, true, &files);
  CU_ASSERT_EQUAL(files.n, 2 + 2 * 4 + 3 * 3 + 1);
  CU_ASSERT(!dpt_compare_files_has(&files, "wait_fraction.dat"));
  const char *allreduce_args[] = {"--strategies", "allreduce", "--workers", "2", NULL};
  CU_ASSERT_FATAL(parse(&o, &err, allreduce_args) == 0);
  dpt_compare_plan_make(&o, &plan);
  CU_ASSERT(plan.n == 1 && plan.staleness_values == 0);
}

/* The names an earlier compare may have left, and near misses that no compare writes. */
static void test_owned_names(void)
{
  static const char *const owned[] = {
    "run-ps-w2.json",      "run-allreduce-w16.csv", "run-ps-s4-w2.json",
    "run-ps-s1000000-w4.csv", "run-ps-sinf-w1.json", "run-ps-s12-w3.json.tmp.4242",
    "wait_fraction.dat",   "time_to_target.png",    "wait_fraction.gp.tmp.7",
    "compare.md",          "gnuplot.log"};
  static const char *const foreign[] = {
    "run-allreduce-s4-w2.json", "run-ps-s0-w2.json",  "run-ps-s04-w2.json", "run-ps-s-w2.json",
    "run-ps-sinf2-w2.json",     "run-ps-sin-w2.json", "run-ps-s4w2.json",   "run-ps-s4-w.json",
    "run-ps-s4-w2.txt",         "run-ps-s4-w2",       "run-ps-s4-",         "run-ps-w2.json.bak",
    "run-ps-s4-w2.json.tmp",    "wait_fraction.txt",  "run-ps-sinf-sinf-w2.json", "run-ps-w2."};
  for (size_t i = 0; i < sizeof owned / sizeof owned[0]; i++) {
    if (!dpt_compare_owns(owned[i])) fprintf(stderr, "\n  '%s' is not owned\n", owned[i]);
    CU_ASSERT(dpt_compare_owns(owned[i]));
  }
  for (size_t i = 0; i < sizeof foreign / sizeof foreign[0]; i++) {
    if (dpt_compare_owns(foreign[i])) fprintf(stderr, "\n  '%s' is owned\n", foreign[i]);
    CU_ASSERT(!dpt_compare_owns(foreign[i]));
  }
}

/* --- the charts' data ------------------------------------------------------------------------- */

/* Charts made with PATH holding no gnuplot, into the temp folder's `name`, which is emptied. */
static void charts_without_gnuplot(const char *name, const dpt_compared_run *runs, int n,
                                   double target, int staleness_values, char *dir, size_t size)
{
  char cmd[8300];
  dpt_test_path(dir, size, name);
  snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", dir, dir);
  CU_ASSERT_FATAL(system(cmd) == 0);
  char *saved_path = strdup(getenv("PATH") ? getenv("PATH") : "");
  setenv("PATH", "/nonexistent", 1);
  bool drawn = true;
  dpt_err err = {0};
  CU_ASSERT_EQUAL(dpt_charts_make(dir, runs, n, target, staleness_values, &drawn, &err), 0);
  setenv("PATH", saved_path, 1);
  free(saved_path);
  CU_ASSERT(!drawn);
}

static char *chart_file(const char *dir, const char *name)
{
  char path[4200];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  return slurp(path, NULL);
}

/* The best throughput drawn beside the measured one, read back from throughput.dat (charts made
 * without gnuplot: PATH holds none), for 1, 2 and 4 workers of one strategy on device. */
static void best_throughput(const char *device, int base_threads, double best[3])
{
  double elapsed[] = {1}, acc[] = {0.5};
  dpt_compared_run runs[3];
  const int workers[] = {1, 2, 4};
  const double rate[] = {1000, 1200, 900};
  for (int i = 0; i < 3; i++)
    runs[i] = (dpt_compared_run){
      .result = {.strategy = "allreduce", .device = device, .workers = workers[i],
                 .blas_threads = i == 0 ? base_threads : 1, .train_samples_per_sec = rate[i],
                 .steps = 10},
      .n_epochs = 1, .epoch_elapsed_s = elapsed, .epoch_test_acc = acc};
  char dir[4096], path[4200];
  charts_without_gnuplot("charts", runs, 3, 0, 0, dir, sizeof dir);
  snprintf(path, sizeof path, "%s/throughput.dat", dir);
  FILE *f = fopen(path, "r");
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  char line[256];
  int n = 0, w;
  double measured;
  while (fgets(line, sizeof line, f))
    if (n < 3 && line[0] != '#' && sscanf(line, "%d %lf %lf", &w, &measured, &best[n]) == 3) n++;
  fclose(f);
  CU_ASSERT_EQUAL(n, 3);
}

/* On the CPU the 1-worker run's BLAS threads use every core: no line above its rate. On GPUs each
 * worker has a device of its own: linear. */
static void test_best_throughput_fits_the_cores(void)
{
  double best[3];
  best_throughput("cpu", dpt_cores_online(), best);
  for (int i = 0; i < 3; i++) CU_ASSERT_DOUBLE_EQUAL(best[i], 1000, 1e-9);
  best_throughput("cuda", 0, best);
  CU_ASSERT_DOUBLE_EQUAL(best[0], 1000, 1e-9);
  CU_ASSERT_DOUBLE_EQUAL(best[1], 2000, 1e-9);
  CU_ASSERT_DOUBLE_EQUAL(best[2], 4000, 1e-9);
}

/* The staleness charts (OSDI'14 Fig. 13): the axis sorted whatever the --staleness order, inf
 * last; one block per worker count, then allreduce's level lines; a target never reached is NaN
 * in the data and a key entry saying so, never an empty block for gnuplot to warn about. */
static void test_staleness_charts_data(void)
{
  double elapsed[] = {1, 2}, fast[] = {0.5, 0.9}, slow[] = {0.5, 0.6};
  const int staleness[] = {DPT_PS_STALENESS_INF, 0, 4};
  const double wait[] = {0.05, 0.5, 0.25};
  dpt_compared_run runs[1 + 3];
  runs[0] = (dpt_compared_run){.result = {.strategy = "allreduce", .device = "cpu", .workers = 2,
                                          .wait_fraction = 0.375},
                               .n_epochs = 2, .epoch_elapsed_s = elapsed, .epoch_test_acc = fast};
  for (int i = 0; i < 3; i++)
    runs[1 + i] = (dpt_compared_run){
      .result = {.strategy = "ps", .device = "cpu", .workers = 2, .staleness = staleness[i],
                 .wait_fraction = wait[i]},
      .n_epochs = 2, .epoch_elapsed_s = elapsed, .epoch_test_acc = staleness[i] == 4 ? slow : fast};
  char dir[4096];
  charts_without_gnuplot("staleness-charts", runs, 4, 0.8, 3, dir, sizeof dir);
  char *wait_dat = chart_file(dir, "wait_fraction.dat");
  char *target_dat = chart_file(dir, "time_to_target.dat");
  char *target_gp = chart_file(dir, "time_to_target.gp");
  CU_ASSERT_FATAL(wait_dat && target_dat && target_gp);
  CU_ASSERT_PTR_NOT_NULL(strstr(wait_dat, "# ps, 2 workers\n# x staleness wait_fraction\n"
                                          "0 0 0.5\n1 4 0.25\n2 inf 0.05\n"));
  CU_ASSERT_PTR_NOT_NULL(strstr(wait_dat, "# allreduce, 2 workers (reference: staleness does not "
                                          "apply)\n# x staleness wait_fraction\n"
                                          "-0.25 - 0.375\n2.25 - 0.375\n"));
  CU_ASSERT_PTR_NOT_NULL(strstr(target_dat, "0 0 2\n1 4 NaN\n2 inf 2\n"));
  CU_ASSERT_PTR_NOT_NULL(strstr(target_gp, "set xtics (\"0\" 0, \"4\" 1, \"inf\" 2)\n"));
  CU_ASSERT_PTR_NOT_NULL(strstr(target_gp, "\"time_to_target.dat\" index 0 using 1:3"));
  CU_ASSERT_PTR_NOT_NULL(strstr(target_gp, "\"time_to_target.dat\" index 1 using 1:3 with lines"));
  free(wait_dat);
  free(target_dat);
  free(target_gp);

  /* A target no ps run reaches: no data block drawn, the key says so. */
  for (int i = 1; i < 4; i++) runs[i].epoch_test_acc = slow;
  charts_without_gnuplot("staleness-charts", runs, 4, 0.8, 3, dir, sizeof dir);
  target_gp = chart_file(dir, "time_to_target.gp");
  CU_ASSERT_FATAL(target_gp != NULL);
  CU_ASSERT_PTR_NOT_NULL(strstr(target_gp, "plot NaN with linespoints"));
  CU_ASSERT_PTR_NOT_NULL(strstr(target_gp, "title \"ps, 2 workers (not reached)\""));
  CU_ASSERT_PTR_NULL(strstr(target_gp, "index 0"));
  free(target_gp);

  /* One staleness value: no staleness chart at all. */
  charts_without_gnuplot("staleness-charts", runs, 2, 0.8, 1, dir, sizeof dir);
  char *none = chart_file(dir, "wait_fraction.dat");
  CU_ASSERT_PTR_NULL(none);
  free(none);
}

/* --- the command line ----------------------------------------------------------------------- */

static int parse(dpt_compare_options *o, dpt_err *err, const char *const *args)
{
  char *argv[16] = {"compare"};
  int argc = 1;
  while (args[argc - 1]) {
    argv[argc] = (char *)args[argc - 1];
    argc++;
  }
  dpt_cli_action action;
  dpt_err_clear(err);
  return dpt_compare_parse(argc, argv, o, &action, err);
}

static void test_compare_options(void)
{
  dpt_compare_options o;
  dpt_err err;
  const char *none[] = {NULL};
  CU_ASSERT_FATAL(parse(&o, &err, none) == 0);
  CU_ASSERT_EQUAL(o.n_strategies, 2);
  CU_ASSERT_EQUAL(o.n_workers, 3);
  CU_ASSERT_EQUAL(o.workers[2], 4);
  CU_ASSERT(o.target_acc == 0 && o.out_dir == NULL && o.train.epochs == 10);
  const char *all[] = {"--strategies", "ps", "--workers", "2,1", "--target-acc", "0.9", "--out",
                       "d", "--epochs", "3", "--ps-shards", "4", "--metrics-every", "7", NULL};
  CU_ASSERT_FATAL(parse(&o, &err, all) == 0);
  CU_ASSERT(o.n_strategies == 1 && o.strategies[0] == DPT_STRATEGY_PS);
  CU_ASSERT(o.n_workers == 2 && o.workers[0] == 2 && o.workers[1] == 1);
  CU_ASSERT_DOUBLE_EQUAL(o.target_acc, 0.9, 1e-12);
  CU_ASSERT_STRING_EQUAL(o.out_dir, "d");
  CU_ASSERT(o.train.epochs == 3 && o.train.ps_shards == 4 && o.train.metrics_every == 7);
  CU_ASSERT(o.n_staleness == 1 && o.staleness[0] == 0); /* the default: synchronous ps only */
  const char *stale[] = {"--staleness", "inf,0,4", "--straggler", "random:0.1:4", NULL};
  CU_ASSERT_FATAL(parse(&o, &err, stale) == 0);
  CU_ASSERT(o.n_staleness == 3 && o.staleness[0] == DPT_PS_STALENESS_INF &&
            o.staleness[1] == 0 && o.staleness[2] == 4);
  CU_ASSERT_STRING_EQUAL(o.train.straggler, "random:0.1:4");
  const char *fixed[] = {"--workers", "4,2", "--straggler", "1:3", NULL};
  CU_ASSERT(parse(&o, &err, fixed) == 0); /* worker 1 exists in every run */
  const char *sync_only[] = {"--strategies", "allreduce", "--staleness", "0", NULL};
  CU_ASSERT(parse(&o, &err, sync_only) == 0); /* 0 is what allreduce-only compares have anyway */
}

static void expect_error(const char *a1, const char *a2, const char *a3, const char *a4,
                         const char *want)
{
  dpt_compare_options o;
  dpt_err err;
  const char *args[] = {a1, a2, a3, a4, NULL};
  CU_ASSERT_EQUAL(parse(&o, &err, args), DPT_EINPUT);
  if (!strstr(err.msg, want)) fprintf(stderr, "\n  message '%s' lacks '%s'\n", err.msg, want);
  CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, want));
}

static void test_compare_bad_options(void)
{
  expect_error("--target-acc", "1.5", NULL, NULL, "--target-acc 1.5");
  expect_error("--target-acc", "0", NULL, NULL, "--target-acc 0");
  expect_error("--strategies", "foo", NULL, NULL, "--strategies 'foo': must be one of");
  expect_error("--strategies", "ps,ps", NULL, NULL, "listed twice");
  expect_error("--workers", "0,2", NULL, NULL, "--workers 0:");
  expect_error("--workers", "1,,2", NULL, NULL, "--workers '1,,2'");
  expect_error("--workers", "2,2", NULL, NULL, "listed twice");
  expect_error("--strategy", "ps", NULL, NULL, "--strategies");
  expect_error("--report", "r.json", NULL, NULL, "--report");
  expect_error("--trace", "t.json", NULL, NULL, "--trace");
  expect_error("--resume", "c.ckpt", NULL, NULL, "--resume: not available with compare");
  expect_error("--strategies", "allreduce", "--ps-shards", "2", "--ps-shards");
  expect_error("--metrics-every", "0", NULL, NULL, "--metrics-every 0");
  expect_error("--epochs", "0", NULL, NULL, "--epochs 0");
  expect_error("--workers", "1,2,1", NULL, NULL, "--workers '1,2,1': 1 is listed twice");
  /* --staleness LIST: each malformed item named. */
  expect_error("--staleness", "0,,4", NULL, NULL, "--staleness '0,,4': item 2 is empty");
  expect_error("--staleness", "0,4,", NULL, NULL, "--staleness '0,4,': item 3 is empty");
  expect_error("--staleness", "0,x", NULL, NULL, "--staleness 'x': not a whole number, or inf");
  expect_error("--staleness", "-1,4", NULL, NULL, "--staleness -1: must be between 0 and");
  expect_error("--staleness", "4,Inf", NULL, NULL, "--staleness 'Inf'");
  expect_error("--staleness", "0,4,0", NULL, NULL, "--staleness '0,4,0': 0 is listed twice");
  expect_error("--staleness", "inf,2,inf", NULL, NULL, "'inf,2,inf': inf is listed twice");
  expect_error("--staleness", "0,1,2,3,4,5,6,7,8", NULL, NULL, "at most 8 items");
  expect_error("--strategies", "allreduce", "--staleness", "0,inf",
               "--staleness inf: only meaningful when --strategies has ps");
  /* --straggler applies to every run: its workers must exist in the smallest. */
  expect_error("--workers", "4,2", "--straggler", "0:2,2:3",
               "--straggler 0:2,2:3: worker 2 does not exist in the 2-worker runs (workers 0..1)");
  expect_error("--straggler", "1:0.5", NULL, NULL, "--straggler 1:0.5");
}

/* --- compare's help against its parser ------------------------------------------------------- */

enum { MAX_HELP_OPTIONS = 64 };

typedef struct help_option {
  char name[32];  /* "--epochs" */
  char meta[16];  /* "N"; "" for a flag */
} help_option;

/* The options a help text lists: each line "  --NAME META ..." or "  --help, --version". */
static int help_options(void (*print)(FILE *), help_option *opts)
{
  char *text = NULL;
  size_t size = 0;
  FILE *f = open_memstream(&text, &size);
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  print(f);
  fclose(f);
  int n = 0;
  for (char *line = strtok(text, "\n"); line && n < MAX_HELP_OPTIONS; line = strtok(NULL, "\n")) {
    if (strncmp(line, "  --", 4) != 0) continue;
    for (char *p = line + 2; n < MAX_HELP_OPTIONS && strncmp(p, "--", 2) == 0;) {
      help_option *o = &opts[n++];
      int used = 0;
      sscanf(p, "%31[^ ,]%n", o->name, &used);
      p += used;
      o->meta[0] = '\0';
      if (p[0] == ' ' && p[1] >= 'A' && p[1] <= 'Z') sscanf(p + 1, "%15[^ ]", o->meta);
      p += strspn(p, ", ");
    }
  }
  free(text);
  return n;
}

static void print_compare_help(FILE *f) { dpt_compare_print_help(f); }

/* A value the parser takes for option o: choices by name, numbers by their metavariable. */
static const char *sample_value(const help_option *o)
{
  static const char *const choices[][2] = {{"--strategies", "ps"},  {"--lr-schedule", "step"},
                                           {"--device", "cpu"},     {"--on-nan", "skip"},
                                           {"--straggler", "0:2"}, {"--on-worker-failure", "stop"},
                                           {"--model", "cnn"}};
  for (size_t i = 0; i < sizeof choices / sizeof choices[0]; i++)
    if (strcmp(o->name, choices[i][0]) == 0) return choices[i][1];
  return strcmp(o->meta, "X") == 0 ? "0.5" : "2";
}

static int parse_one(const help_option *o, dpt_err *err)
{
  dpt_compare_options opts;
  dpt_cli_action action;
  char *argv[] = {"compare", (char *)o->name, (char *)sample_value(o), NULL};
  dpt_err_clear(err);
  return dpt_compare_parse(o->meta[0] ? 3 : 2, argv, &opts, &action, err);
}

static bool help_has(const help_option *opts, int n, const char *name)
{
  for (int i = 0; i < n; i++)
    if (strcmp(opts[i].name, name) == 0) return true;
  return false;
}

/* Every option compare's help lists is accepted, each once; every training option it leaves out
 * is refused, naming itself. */
static void test_compare_help_lists_what_compare_takes(void)
{
  help_option shown[MAX_HELP_OPTIONS], training[MAX_HELP_OPTIONS];
  int n_shown = help_options(print_compare_help, shown);
  int n_training = help_options(dpt_cli_print_help, training);
  CU_ASSERT(n_shown > 10 && n_training > 10);
  dpt_err err;
  for (int i = 0; i < n_shown; i++) {
    int rc = parse_one(&shown[i], &err);
    if (rc) fprintf(stderr, "\n  compare --help lists %s, which compare refuses: %s\n",
                    shown[i].name, err.msg);
    CU_ASSERT_EQUAL(rc, 0);
    for (int j = 0; j < i; j++) {
      if (strcmp(shown[i].name, shown[j].name) == 0)
        fprintf(stderr, "\n  compare --help lists %s twice\n", shown[i].name);
      CU_ASSERT_STRING_NOT_EQUAL(shown[i].name, shown[j].name);
    }
  }
  for (int i = 0; i < n_training; i++) {
    if (help_has(shown, n_shown, training[i].name)) continue;
    CU_ASSERT_EQUAL(parse_one(&training[i], &err), DPT_EINPUT);
    CU_ASSERT(strncmp(err.msg, training[i].name, strlen(training[i].name)) == 0);
  }
}

/* compare --help lists exactly the options compare takes: every "--name VALUE" it lists parses
 * with a value of the kind shown, and no option it refuses appears. */
static void test_compare_help_lists_what_it_takes(void)
{
  char *help = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&help, &len);
  dpt_compare_print_help(f);
  fclose(f);
  static const char *const refused[] = {"--strategy ", "--report ", "--metrics ", "--trace ",
                                        "--trace-steps ", "--checkpoint ", "--checkpoint-every ",
                                        "--resume ", "--workers N|auto"};
  for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
    if (strstr(help, refused[i])) fprintf(stderr, "\n  compare --help lists '%s'\n", refused[i]);
    CU_ASSERT_PTR_NULL(strstr(help, refused[i]));
  }
  /* Listed options, each with a value its placeholder allows. */
  static const char *const listed[][2] = {
    {"--strategies", "ps"}, {"--workers", "1,2"}, {"--target-acc", "0.5"}, {"--out", "d"},
    {"--epochs", "2"}, {"--metrics-every", "3"}, {"--quiet", NULL}, {"--on-nan", "skip"},
    {"--staleness", "0,inf"}, {"--straggler", "0:2"}};
  for (size_t i = 0; i < sizeof listed / sizeof listed[0]; i++) {
    char line[64];
    snprintf(line, sizeof line, "\n  %s", listed[i][0]);
    CU_ASSERT_PTR_NOT_NULL(strstr(help, line));
    dpt_compare_options o;
    dpt_err err;
    const char *args[] = {listed[i][0], listed[i][1], NULL};
    CU_ASSERT_EQUAL(parse(&o, &err, args), 0);
  }
  free(help);
}

int dpt_test_register(void)
{
  if (make_data() != 0) return CUE_NOREGISTRY;
  static const dpt_test_case metrics[] = {DPT_TEST(test_metrics_rows_match_the_run),
                                          DPT_TEST(test_step_loss_sums_every_worker),
                                          DPT_TEST(test_failed_run_leaves_no_file), DPT_TEST_END};
  static const dpt_test_case trace[] = {DPT_TEST(test_ps_trace_has_worker_and_server_tracks),
                                        DPT_TEST(test_allreduce_trace_is_complete),
                                        DPT_TEST(test_json_check_rejects_broken_text),
                                        DPT_TEST_END};
  static const dpt_test_case compare[] = {DPT_TEST(test_table_figures),
                                          DPT_TEST(test_table_staleness_columns),
                                          DPT_TEST(test_plan_and_run_files),
                                          DPT_TEST(test_owned_names),
                                          DPT_TEST(test_staleness_charts_data),
                                          DPT_TEST(test_compare_options),
                                          DPT_TEST(test_compare_bad_options),
                                          DPT_TEST(test_compare_help_lists_what_compare_takes),
                                          DPT_TEST(test_best_throughput_fits_the_cores),
                                          DPT_TEST(test_compare_help_lists_what_it_takes),
                                          DPT_TEST_END};
  int rc = dpt_test_add_suite("metrics", metrics);
  if (!rc) rc = dpt_test_add_suite("trace", trace);
  return rc ? rc : dpt_test_add_suite("compare", compare);
}
