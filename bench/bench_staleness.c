/* bench_staleness: the parameter server's consistency models under stragglers (docs/ps.md,
 * issue: OSDI'14 Fig. 13). For each straggler kind it trains the same job with allreduce, then with
 * ps at each staleness, and prints wait fraction, time to the target accuracy and final accuracy,
 * then the targets: what staleness buys against S = 0 in the same run, as ratios. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "bench/bench_opts.h"
#include "bench/bench_util.h"
#include "dpt/cores.h"
#include "dpt/trainer.h"

enum { MAX_STALENESS = 8, MAX_REPEATS = 16, N_KINDS = 2 };
#define TARGET_WAIT_CUT 0.5     /* transient: wait fraction at S = 4 <= 0.5 x at S = 0 */
#define TARGET_ACC_GAP 0.01     /* transient: final accuracy at S = 4 within 0.01 of S = 0 */
#define TARGET_WAIT_ASYNC 0.2   /* persistent: wait fraction at S = inf <= 0.2 x at S = 0 */

typedef struct opts {
  const char *data, *transient, *persistent;
  int epochs, workers, repeats;
  double target_acc;
  int staleness[MAX_STALENESS], n_staleness;
} opts;

/* One configuration's figures: medians over the repeats. */
typedef struct row {
  bool allreduce;
  int staleness;
  double wait_fraction, to_target_s, test_acc, train_s, max_staleness;
} row;

static const char *staleness_name(const row *r)
{
  static char buf[16];
  if (r->allreduce) return "allreduce";
  return strcpy(buf, dpt_ps_staleness_text(r->staleness).text);
}

/* "0,1,2,4,8,inf" */
static bool parse_staleness(const char *s, opts *o)
{
  o->n_staleness = 0;
  while (*s && o->n_staleness < MAX_STALENESS) {
    int v = 0, used = 0;
    if (strncmp(s, "inf", 3) == 0) {
      v = DPT_PS_STALENESS_INF;
      used = 3;
    } else if (sscanf(s, "%d%n", &v, &used) != 1 || v < 0) {
      return false;
    }
    o->staleness[o->n_staleness++] = v;
    s += used;
    if (*s == ',') s++;
    else if (*s) return false;
  }
  return !*s && o->n_staleness > 0;
}

static bool parse(int argc, char **argv, opts *o)
{
  const char *staleness = "0,1,2,4,8,inf", *target = "0.86";
  *o = (opts){.data = DPT_DEFAULT_DATA_DIR, .transient = "random:0.1:4", .persistent = "3:3",
              .epochs = 2, .workers = 4, .repeats = 1};
  const bench_opt table[] = {
      BENCH_STR("--data", &o->data),          BENCH_INT("--epochs", &o->epochs),
      BENCH_INT("--workers", &o->workers),    BENCH_INT("--repeats", &o->repeats),
      BENCH_STR("--staleness", &staleness),   BENCH_STR("--transient", &o->transient),
      BENCH_STR("--persistent", &o->persistent), BENCH_STR("--target-acc", &target),
  };
  if (!bench_parse_opts(argc, argv, table, (int)(sizeof table / sizeof table[0]),
                        "bench_staleness [--data DIR] [--epochs 2] [--workers 4] [--repeats 1] "
                        "[--staleness 0,1,2,4,8,inf] [--transient random:0.1:4] "
                        "[--persistent 3:3] [--target-acc 0.86]"))
    return false;
  if (!parse_staleness(staleness, o)) {
    fprintf(stderr, "bench_staleness: --staleness: a list of numbers >= 0 and inf, not '%s'\n",
            staleness);
    return false;
  }
  if (sscanf(target, "%lf", &o->target_acc) != 1 || !(o->target_acc > 0 && o->target_acc <= 1)) {
    fprintf(stderr, "bench_staleness: --target-acc: a number in (0, 1], not '%s'\n", target);
    return false;
  }
  if (o->repeats <= MAX_REPEATS) return true;
  fprintf(stderr, "bench_staleness: --repeats: at most %d\n", MAX_REPEATS);
  return false;
}

static int train_once(const opts *o, const char *straggler, const row *r, dpt_result *res)
{
  dpt_config cfg;
  dpt_config_defaults(&cfg);
  cfg.data_dir = o->data;
  cfg.epochs = o->epochs;
  cfg.workers = o->workers;
  cfg.device = DPT_DEVICE_SELECT_CPU;
  cfg.quiet = true;
  cfg.strategy = r->allreduce ? DPT_STRATEGY_ALLREDUCE : DPT_STRATEGY_PS;
  cfg.staleness = r->allreduce ? 0 : r->staleness;
  cfg.straggler = straggler;
  cfg.target_acc = o->target_acc;
  dpt_err err = {0};
  int rc = dpt_train(&cfg, NULL, res, &err);
  if (rc)
    fprintf(stderr, "bench_staleness: error: %s, --straggler %s: %s\n", staleness_name(r),
            straggler, err.msg);
  return rc;
}

enum { FIG_WAIT, FIG_TARGET, FIG_ACC, FIG_TRAIN, FIG_MAX_STALE, N_FIGS };

/* Every configuration of one straggler kind, repeats interleaved so that a burst of load hits
 * them alike; rows[0] is allreduce, rows[1..] ps at each staleness. */
static int run_kind(const opts *o, const char *straggler, row *rows, int n)
{
  double fig[MAX_STALENESS + 1][N_FIGS][MAX_REPEATS];
  for (int rep = 0; rep < o->repeats; rep++)
    for (int i = 0; i < n; i++) {
      dpt_result res;
      if (train_once(o, straggler, &rows[i], &res)) return 1;
      fig[i][FIG_WAIT][rep] = res.wait_fraction;
      fig[i][FIG_TARGET][rep] = res.steps_to_target < 0 ? INFINITY : res.seconds_to_target;
      fig[i][FIG_ACC][rep] = res.test_accuracy;
      fig[i][FIG_TRAIN][rep] = res.train_s;
      fig[i][FIG_MAX_STALE][rep] = (double)res.max_staleness;
    }
  for (int i = 0; i < n; i++) {
    rows[i].wait_fraction = bench_median(fig[i][FIG_WAIT], o->repeats);
    rows[i].to_target_s = bench_median(fig[i][FIG_TARGET], o->repeats);
    rows[i].test_acc = bench_median(fig[i][FIG_ACC], o->repeats);
    rows[i].train_s = bench_median(fig[i][FIG_TRAIN], o->repeats);
    rows[i].max_staleness = bench_median(fig[i][FIG_MAX_STALE], o->repeats);
  }
  return 0;
}

static void print_rows(const char *kind, const char *straggler, const row *rows, int n,
                       double target)
{
  printf("\n%s stragglers (--straggler %s):\n", kind, straggler);
  printf("%-10s %13s %16s %10s %9s %14s\n", "staleness", "wait_fraction", "to_acc_target_s",
         "test_acc", "train_s", "max_staleness");
  for (int i = 0; i < n; i++) {
    char to[32];
    if (isinf(rows[i].to_target_s)) snprintf(to, sizeof to, "not reached");
    else snprintf(to, sizeof to, "%.2f", rows[i].to_target_s);
    printf("%-10s %13.4f %16s %10.4f %9.2f %14.0f\n", staleness_name(&rows[i]),
           rows[i].wait_fraction, to, rows[i].test_acc, rows[i].train_s, rows[i].max_staleness);
  }
  printf("(time to test accuracy %g: at the end of the first epoch that reached it)\n", target);
  fflush(stdout);
}

/* The ps row at staleness s, or NULL. */
static const row *find(const row *rows, int n, int s)
{
  for (int i = 1; i < n; i++)
    if (rows[i].staleness == s) return &rows[i];
  return NULL;
}

static void print_targets(const row *transient, const row *persistent, int n)
{
  printf("\ntargets (ratios within this run):\n");
  const row *t0 = find(transient, n, 0), *t4 = find(transient, n, 4);
  const row *p0 = find(persistent, n, 0), *pinf = find(persistent, n, DPT_PS_STALENESS_INF);
  if (t0 && t4) {
    double cut = t0->wait_fraction > 0 ? t4->wait_fraction / t0->wait_fraction : INFINITY;
    printf("  transient: wait fraction S=4 / S=0 %17.3f <= %.2f  %s\n", cut, TARGET_WAIT_CUT,
           bench_mark(cut <= TARGET_WAIT_CUT));
    double gap = fabs(t4->test_acc - t0->test_acc);
    printf("  transient: |test_acc S=4 - S=0| %19.4f <= %.2f  %s\n", gap, TARGET_ACC_GAP,
           bench_mark(gap <= TARGET_ACC_GAP));
  } else {
    printf("  transient: needs S=0 and S=4 in --staleness\n");
  }
  if (p0 && pinf) {
    double faster = pinf->to_target_s / p0->to_target_s;
    printf("  persistent: time to target S=inf / S=0 %11.3f <  1.00  %s\n", faster,
           bench_mark(faster < 1));
    double cut = p0->wait_fraction > 0 ? pinf->wait_fraction / p0->wait_fraction : INFINITY;
    printf("  persistent: wait fraction S=inf / S=0 %12.3f <= %.2f  %s\n", cut, TARGET_WAIT_ASYNC,
           bench_mark(cut <= TARGET_WAIT_ASYNC));
  } else {
    printf("  persistent: needs S=0 and S=inf in --staleness\n");
  }
}

int main(int argc, char **argv)
{
  opts o;
  if (!parse(argc, argv, &o)) return 2;
  printf("bench_staleness: %s, %d epoch(s), %d workers, default MLP and settings, CPU, %d "
         "core(s); median of %d run(s) per row\n",
         o.data, o.epochs, o.workers, dpt_cores_online(), o.repeats);
  bench_print_load("at start");
  int n = o.n_staleness + 1;
  row transient[MAX_STALENESS + 1], persistent[MAX_STALENESS + 1];
  for (int i = 0; i < n; i++) {
    transient[i] = (row){.allreduce = i == 0, .staleness = i ? o.staleness[i - 1] : 0};
    persistent[i] = transient[i];
  }
  if (run_kind(&o, o.transient, transient, n)) return 1;
  print_rows("transient", o.transient, transient, n, o.target_acc);
  if (run_kind(&o, o.persistent, persistent, n)) return 1;
  print_rows("persistent", o.persistent, persistent, n, o.target_acc);
  print_targets(transient, persistent, n);
  bench_print_load("at end");
  return 0;
}
