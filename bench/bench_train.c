/* bench_train: trains on Fashion-MNIST through dpt_train for each worker count and strategy, and
 * sets each run's samples/s beside the sgemm ceiling of that configuration (sgemm_rate.h). */
#include <stdio.h>
#include <string.h>

#include "bench/bench_opts.h"
#include "bench/bench_util.h"
#include "bench/sgemm_rate.h"
#include "dpt/cores.h"
#include "dpt/trainer.h"

enum { MAX_WORKERS_LIST = 8, MAX_STRATEGIES = 2, MAX_REPEATS = 32 };
#define TARGET_ONE_WORKER 0.6  /* (a) 1 worker: samples/s >= 0.6 x ceiling */
#define TARGET_TWO_AR 0.75     /* (b) 2 workers, allreduce: >= 0.75 x ceiling */
#define TARGET_PS_VS_AR 0.9    /* (c) ps >= 0.9 x allreduce samples/s, same workers */

typedef struct opts {
  const char *data, *strategies;
  int epochs, batch, repeats, sgemm_reps;
  int hidden[DPT_MAX_LAYERS - 1], n_hidden;
  int workers[MAX_WORKERS_LIST], n_workers;
} opts;

static bool parse(int argc, char **argv, opts *o)
{
  *o = (opts){.data = DPT_DEFAULT_DATA_DIR, .strategies = "allreduce,ps", .epochs = 1,
              .batch = 256, .repeats = 3, .sgemm_reps = 50, .hidden = {512, 512}, .n_hidden = 2,
              .workers = {1, 2, 4}, .n_workers = 3};
  const bench_opt table[] = {
      BENCH_STR("--data", &o->data),
      BENCH_INT("--epochs", &o->epochs),
      BENCH_INT("--batch", &o->batch),
      BENCH_LIST("--hidden", o->hidden, &o->n_hidden, DPT_MAX_LAYERS - 1),
      BENCH_LIST("--workers", o->workers, &o->n_workers, MAX_WORKERS_LIST),
      BENCH_STR("--strategies", &o->strategies),
      BENCH_INT("--repeats", &o->repeats),
      BENCH_INT("--sgemm-reps", &o->sgemm_reps),
  };
  if (!bench_parse_opts(argc, argv, table, (int)(sizeof table / sizeof table[0]),
                        "bench_train [--data DIR] [--epochs 1] [--batch 256] [--hidden 512,512] "
                        "[--workers 1,2,4] [--strategies allreduce,ps] [--repeats 3] "
                        "[--sgemm-reps 50]"))
    return false;
  if (o->repeats <= MAX_REPEATS) return true;
  fprintf(stderr, "%s: --repeats: at most %d\n", argv[0], MAX_REPEATS);
  return false;
}

/* "allreduce,ps" -> strategies; returns the count or -1. */
static int parse_strategies(const char *s, dpt_strategy *out)
{
  int n = 0;
  while (*s) {
    size_t len = strcspn(s, ",");
    dpt_strategy k = DPT_STRATEGY_ALLREDUCE;
    for (; k <= DPT_STRATEGY_PS; k++)
      if (strlen(dpt_strategy_name(k)) == len && !strncmp(s, dpt_strategy_name(k), len)) break;
    if (k > DPT_STRATEGY_PS || n == MAX_STRATEGIES) return -1;
    out[n++] = k;
    s += len + (s[len] == ',');
  }
  return n;
}

/* One configuration's figures: medians over the repeats. */
typedef struct row {
  int workers;
  dpt_strategy strategy;
  double samples_per_s, compute_ms, comm_ms, wait_ms, test_acc;
  sgemm_ceiling ceil;
} row;

/* One training run. The worker count's ceiling probe is created from the first run's model and
 * threads, with room for `cap` steps, and sampled right after every run, under the same load. */
static int train_once(const opts *o, int workers, dpt_strategy strategy, int cap,
                      dpt_result *res, sgemm_probe *probe)
{
  dpt_config cfg;
  dpt_config_defaults(&cfg);
  cfg.data_dir = o->data;
  cfg.epochs = o->epochs;
  cfg.batch = o->batch;
  memcpy(cfg.hidden, o->hidden, sizeof cfg.hidden);
  cfg.n_hidden = o->n_hidden;
  cfg.workers = workers;
  cfg.strategy = strategy;
  cfg.device = DPT_DEVICE_SELECT_CPU;
  cfg.quiet = true;
  dpt_err err = {0};
  dpt_mlp_shape shape;
  int rc = dpt_train(&cfg, NULL, res, &err);
  if (!rc && !probe->times)
    rc = dpt_mlp_shape_make(res->features, res->hidden, res->n_hidden, res->classes, &shape, &err);
  if (!rc && !probe->times &&
      !sgemm_probe_create(&shape, o->batch, workers, res->blas_threads, dpt_cores_online(), cap, probe))
    rc = dpt_err_set(&err, DPT_ENOMEM, "sgemm ceiling: out of memory");
  if (rc) {
    fprintf(stderr, "bench_train: error: %d worker(s), %s: %s\n", workers,
            dpt_strategy_name(strategy), err.msg);
    return 1;
  }
  sgemm_probe_sample(probe, o->sgemm_reps);
  return 0;
}

enum { FIG_SPS, FIG_COMPUTE, FIG_COMM, FIG_WAIT, N_FIGS };

/* Every strategy at one worker count, repeats interleaved (allreduce, ps, allreduce, ps, ...) so
 * a burst of load on the machine hits the strategies alike; one ceiling for them all, from the
 * steps timed after every run. rows[0..n_strat) receive the medians. */
static int run_workers(const opts *o, int workers, const dpt_strategy *strat, int n_strat,
                       row *rows)
{
  double fig[MAX_STRATEGIES][N_FIGS][MAX_REPEATS];
  sgemm_probe probe = {0};
  int rc = 0;
  for (int r = 0; r < o->repeats && !rc; r++)
    for (int s = 0; s < n_strat && !rc; s++) {
      dpt_result res;
      rc = train_once(o, workers, strat[s], o->repeats * n_strat * o->sgemm_reps, &res, &probe);
      if (rc) break;
      fig[s][FIG_SPS][r] = res.train_samples_per_sec;
      fig[s][FIG_COMPUTE][r] = res.time_compute_s / res.steps * 1e3;
      fig[s][FIG_COMM][r] = res.time_comm_s / res.steps * 1e3;
      fig[s][FIG_WAIT][r] = res.time_wait_s / res.steps * 1e3;
      rows[s].test_acc = res.test_accuracy; /* the same every repeat: the run is seeded */
    }
  if (!rc) {
    sgemm_ceiling ceil = sgemm_probe_ceiling(&probe);
    for (int s = 0; s < n_strat; s++)
      rows[s] = (row){.workers = workers,
                      .strategy = strat[s],
                      .samples_per_s = bench_median(fig[s][FIG_SPS], o->repeats),
                      .compute_ms = bench_median(fig[s][FIG_COMPUTE], o->repeats),
                      .comm_ms = bench_median(fig[s][FIG_COMM], o->repeats),
                      .wait_ms = bench_median(fig[s][FIG_WAIT], o->repeats),
                      .test_acc = rows[s].test_acc,
                      .ceil = ceil};
  }
  sgemm_probe_destroy(&probe);
  return rc;
}

static void print_row(const row *r)
{
  printf("%7d %-9s %10.0f %11.2f %8.2f %8.2f %8d %7d %12.0f %6.2f %7.4f\n", r->workers,
         dpt_strategy_name(r->strategy), r->samples_per_s, r->compute_ms, r->comm_ms, r->wait_ms,
         r->ceil.rows, r->ceil.threads, r->ceil.samples_per_s,
         r->samples_per_s / r->ceil.samples_per_s, r->test_acc);
  fflush(stdout);
}

static void target_line(const char *what, double value, double target)
{
  printf("  %-44s %6.2f >= %4.2f  %s\n", what, value, target, bench_mark(value >= target));
}

static void print_targets(const row *rows, int n)
{
  printf("\ntargets:\n");
  char what[96];
  for (int i = 0; i < n; i++) {
    const row *r = &rows[i];
    double ratio = r->samples_per_s / r->ceil.samples_per_s;
    if (r->workers == 1) {
      snprintf(what, sizeof what, "(a) 1 worker, %s: samples/s / ceiling",
               dpt_strategy_name(r->strategy));
      target_line(what, ratio, TARGET_ONE_WORKER);
    } else if (r->workers == 2 && r->strategy == DPT_STRATEGY_ALLREDUCE) {
      target_line("(b) 2 workers, allreduce: samples/s / ceiling", ratio, TARGET_TWO_AR);
    }
  }
  for (int i = 0; i < n; i++)
    for (int j = 0; j < n; j++)
      if (rows[i].strategy == DPT_STRATEGY_PS && rows[j].strategy == DPT_STRATEGY_ALLREDUCE &&
          rows[i].workers == rows[j].workers) {
        snprintf(what, sizeof what, "(c) %d worker(s): ps / allreduce samples/s", rows[i].workers);
        target_line(what, rows[i].samples_per_s / rows[j].samples_per_s, TARGET_PS_VS_AR);
      }
}

int main(int argc, char **argv)
{
  opts o;
  dpt_strategy strategies[MAX_STRATEGIES];
  int n_strat;
  if (!parse(argc, argv, &o)) return 2;
  if ((n_strat = parse_strategies(o.strategies, strategies)) <= 0) {
    fprintf(stderr, "bench_train: --strategies: a list of allreduce and ps, not '%s'\n",
            o.strategies);
    return 2;
  }
  printf("bench_train: %s, %d epoch(s), global batch %d, CPU, %d core(s); samples/s of the "
         "training loop, median of %d run(s)\n", o.data, o.epochs, o.batch, dpt_cores_online(),
         o.repeats);
  bench_print_load("at start");
  printf("ceiling: min(workers, cores) x (batch / workers) / t(one worker's GEMMs of a step), "
         "one per worker count, on the runs' threads (the faster of OpenBLAS's own and the CPU "
         "device's pool), median of the %d steps timed after each run at that count\n\n", o.sgemm_reps);
  printf("%7s %-9s %10s %11s %8s %8s %8s %7s %12s %6s %7s\n", "workers", "strategy", "samples/s",
         "compute(ms)", "comm(ms)", "wait(ms)", "rows/wkr", "threads", "ceiling(s/s)", "ratio",
         "test_acc");
  row rows[MAX_WORKERS_LIST * MAX_STRATEGIES];
  int n = 0;
  for (int w = 0; w < o.n_workers; w++) {
    if (run_workers(&o, o.workers[w], strategies, n_strat, &rows[n])) return 1;
    for (int s = 0; s < n_strat; s++) print_row(&rows[n++]);
  }
  printf("\ncompute/comm/wait: per step, mean over workers (dpt_result time split / steps)\n");
  for (int i = 0; i < n; i++)
    if (rows[i].samples_per_s > rows[i].ceil.samples_per_s) {
      /* Not a result: the GEMMs alone cannot be slower than training. */
      printf("note: a ratio above 1 means the machine was busier while the ceiling's steps were "
             "timed than during training; rerun on an idle machine\n");
      break;
    }
  print_targets(rows, n);
  bench_print_load("at end");
  return 0;
}
