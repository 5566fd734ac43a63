/* bench_cnn: trains a model (the cnn preset by default) on Fashion-MNIST through dpt_train on the
 * CPU and sets its samples/s beside two sgemm ceilings for its FLOPs, 3 x flops_per_sample
 * (forward + backward): the rate OpenBLAS reaches on the very GEMMs of one training step (the
 * convs' im2col GEMMs and the fc ones, with the run's BLAS threads), and its rate on a large
 * square GEMM (the machine's sgemm peak, which the "twice PyTorch's" figure is taken
 * against). Then 2 workers against 1, and ps against allreduce. The step's GEMMs are timed
 * whole-batch; training runs a conv's forward and input-gradient GEMMs a block of images at a
 * time (kernels/cpu_conv.c), with the same FLOPs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench_opts.h"
#include "bench/bench_util.h"
#include "bench/sgemm_rate.h"
#include "dpt/cores.h"
#include "dpt/trainer.h"

#define TARGET_CEILING 0.6 /* samples/s >= 0.6 x the sgemm ceiling */
#define TARGET_WORKERS 0.9 /* 2 workers >= 0.9 x 1 worker's samples/s */
#define TARGET_PS 0.9      /* ps >= 0.9 x allreduce, 2 workers */

typedef struct opts {
  const char *data, *model;
  int epochs, batch, sgemm_reps, peak_n;
  int input[3], n_input; /* the data's sample shape: channels, height, width */
} opts;

static bool parse(int argc, char **argv, opts *o)
{
  *o = (opts){.data = DPT_DEFAULT_DATA_DIR, .model = "cnn", .epochs = 1, .batch = 128,
              .sgemm_reps = 20, .peak_n = 2048, .input = {1, 28, 28}, .n_input = 3};
  const bench_opt table[] = {
      BENCH_STR("--data", &o->data),         BENCH_STR("--model", &o->model),
      BENCH_INT("--epochs", &o->epochs),     BENCH_INT("--batch", &o->batch),
      BENCH_INT("--sgemm-reps", &o->sgemm_reps), BENCH_INT("--peak-n", &o->peak_n),
      BENCH_LIST("--input", o->input, &o->n_input, 3),
  };
  if (!bench_parse_opts(argc, argv, table, (int)(sizeof table / sizeof table[0]),
                        "bench_cnn [--data DIR] [--model cnn] [--epochs 1] [--batch 128] "
                        "[--sgemm-reps 20] [--peak-n 2048] [--input 1,28,28]"))
    return false;
  if (o->n_input == 3) return true;
  fprintf(stderr, "%s: --input: channels,height,width\n", argv[0]);
  return false;
}

/* The GEMMs of one forward + backward over `rows` rows, as host/model/mlp_replica.c runs them
 * (row-major): per fc or conv layer the forward, dW and (but for the first layer) dX. Operands
 * point into one arena as large as the largest of each (the values do not change the time). */
typedef struct step_gemms {
  int n;
  sgemm_call calls[3 * DPT_MAX_LAYERS];
  float *arena;
} step_gemms;

static void add_call(step_gemms *g, const char *phase, int layer, bool ta, bool tb, int m, int n,
                     int k)
{
  g->calls[g->n++] = (sgemm_call){.phase = phase, .layer = layer, .ta = ta, .tb = tb, .m = m,
                                  .n = n, .k = k, .lda = ta ? m : k, .ldb = tb ? k : n, .ldc = n};
}

static bool step_gemms_create(const dpt_mlp_shape *s, int rows, step_gemms *g)
{
  memset(g, 0, sizeof *g);
  for (int l = 1; l <= s->n_layers; l++) {
    const dpt_layer *y = &s->layers[l];
    if (y->kind == DPT_LAYER_MAXPOOL) continue;
    bool conv = y->kind == DPT_LAYER_CONV;
    int m = conv ? rows * y->out_h * y->out_w : rows;
    int in = conv ? y->kernel * y->kernel * y->in_c : s->sizes[l - 1];
    int out = y->out_c;
    add_call(g, "fwd", l, false, true, m, out, in);
    add_call(g, "dW", l, true, false, out, in, m);
    if (l > 1) add_call(g, "dX", l, false, false, m, in, out);
  }
  size_t most = 0;
  for (int i = 0; i < g->n; i++) {
    const sgemm_call *c = &g->calls[i];
    size_t sizes[] = {(size_t)c->m * c->k, (size_t)c->k * c->n, (size_t)c->m * c->n};
    for (int j = 0; j < 3; j++) most = sizes[j] > most ? sizes[j] : most;
  }
  g->arena = calloc(3 * most, sizeof(float));
  if (!g->arena) return false;
  for (int i = 0; i < g->n; i++) {
    g->calls[i].a = g->arena;
    g->calls[i].b = g->arena + most;
    g->calls[i].c = g->arena + 2 * most;
  }
  return true;
}

typedef struct run_figs {
  double samples_per_s, test_acc, flops_per_sample;
  int blas_threads, classes;
  char model[DPT_MODEL_TEXT_MAX];
} run_figs;

static int train_once(const opts *o, int workers, dpt_strategy strategy, run_figs *out)
{
  dpt_config cfg;
  dpt_config_defaults(&cfg);
  cfg.data_dir = o->data;
  cfg.model = o->model;
  cfg.epochs = o->epochs;
  cfg.batch = o->batch;
  cfg.schedule.base_lr = 0.05f;
  cfg.schedule.warmup_epochs = 0;
  cfg.workers = workers;
  cfg.strategy = strategy;
  cfg.device = DPT_DEVICE_SELECT_CPU;
  cfg.quiet = true;
  dpt_result res;
  dpt_err err = {0};
  if (dpt_train(&cfg, NULL, &res, &err)) {
    fprintf(stderr, "bench_cnn: error: %d worker(s), %s: %s\n", workers,
            dpt_strategy_name(strategy), err.msg);
    return 1;
  }
  *out = (run_figs){.samples_per_s = res.train_samples_per_sec, .test_acc = res.test_accuracy,
                    .flops_per_sample = res.flops_per_sample, .blas_threads = res.blas_threads, .classes = res.classes};
  snprintf(out->model, sizeof out->model, "%s", res.model);
  return 0;
}

/* GFLOP/s OpenBLAS reaches on the step's GEMMs with `threads` threads: their FLOPs over the sum of
 * each call's median time. Prints each call's figures, so that a slow shape shows. */
static double step_rate(const opts *o, const run_figs *run, double peak, double *step_s)
{
  dpt_model_spec spec;
  dpt_mlp_shape shape;
  dpt_err err = {0};
  step_gemms g;
  if (dpt_model_spec_parse(run->model, NULL, 0, &spec, &err) ||
      dpt_mlp_shape_build(&spec, o->input[0], o->input[1], o->input[2], run->classes, &shape,
                          &err)) {
    fprintf(stderr, "bench_cnn: --input %d,%d,%d: %s\n", o->input[0], o->input[1], o->input[2],
            err.msg);
    return -1;
  }
  if (!step_gemms_create(&shape, o->batch, &g)) return -1;
  double flops = 0, t = 0;
  printf("\nthe step's GEMMs (%d rows, %d BLAS thread(s)):\n%-5s %5s %2s %2s %7s %5s %6s %9s %8s "
         "%6s\n", o->batch, run->blas_threads, "phase", "layer", "ta", "tb", "m", "n", "k",
         "time(us)", "GFLOP/s", "/peak");
  for (int i = 0; i < g.n; i++) {
    const sgemm_call *c = &g.calls[i];
    double f = sgemm_call_flops(c), ct = sgemm_call_time(c, run->blas_threads, o->sgemm_reps);
    printf("%-5s %5d %2s %2s %7d %5d %6d %9.1f %8.1f %6.2f\n", c->phase, c->layer,
           c->ta ? "T" : "N", c->tb ? "T" : "N", c->m, c->n, c->k, ct * 1e6, f / ct * 1e-9,
           f / ct * 1e-9 / peak);
    flops += f;
    t += ct;
  }
  free(g.arena);
  *step_s = t;
  return flops / t / 1e9;
}

static void target_line(const char *what, double value, double target)
{
  printf("  %-46s %6.2f >= %4.2f  %s\n", what, value, target, bench_mark(value >= target));
}

int main(int argc, char **argv)
{
  opts o;
  if (!parse(argc, argv, &o)) return 2;
  printf("bench_cnn: --model %s on %s, %d epoch(s), global batch %d, lr 0.05 cosine, CPU, %d "
         "core(s)\n", o.model, o.data, o.epochs, o.batch, dpt_cores_online());
  bench_print_load("at start");
  run_figs one, two_ar, two_ps;
  if (train_once(&o, 1, DPT_STRATEGY_ALLREDUCE, &one)) return 1;
  double peak = sgemm_square_gflops(o.peak_n, one.blas_threads, 5);
  if (peak < 0) return 1;
  double step_s, gflops = step_rate(&o, &one, peak, &step_s);
  if (gflops < 0) return 1;
  double ceiling = gflops * 1e9 / (3 * one.flops_per_sample);
  double peak_ceiling = peak * 1e9 / (3 * one.flops_per_sample);
  if (train_once(&o, 2, DPT_STRATEGY_ALLREDUCE, &two_ar) ||
      train_once(&o, 2, DPT_STRATEGY_PS, &two_ps))
    return 1;
  printf("model %s: %.2f MFLOP per sample forward, %.2f forward + backward\n", one.model,
         one.flops_per_sample / 1e6, 3 * one.flops_per_sample / 1e6);
  printf("sgemm on the step's GEMMs (%d rows, %d BLAS thread(s)): %.1f GFLOP/s (%.1f ms a step)\n",
         o.batch, one.blas_threads, gflops, step_s * 1e3);
  printf("sgemm peak (%d^3 square, %d BLAS thread(s)): %.1f GFLOP/s\n", o.peak_n,
         one.blas_threads, peak);
  printf("\n%-26s %10s %8s\n", "run", "samples/s", "test_acc");
  printf("%-26s %10.0f %8.4f\n", "1 worker, allreduce", one.samples_per_s, one.test_acc);
  printf("%-26s %10.0f %8.4f\n", "2 workers, allreduce", two_ar.samples_per_s, two_ar.test_acc);
  printf("%-26s %10.0f %8.4f\n", "2 workers, ps", two_ps.samples_per_s, two_ps.test_acc);
  printf("%-26s %10.0f\n", "step-GEMM ceiling", ceiling);
  printf("%-26s %10.0f\n", "peak-sgemm ceiling", peak_ceiling);
  printf("\ntargets:\n");
  target_line("1 worker: samples/s / step-GEMM ceiling", one.samples_per_s / ceiling,
              TARGET_CEILING);
  target_line("1 worker: samples/s / peak-sgemm ceiling", one.samples_per_s / peak_ceiling,
              TARGET_CEILING);
  target_line("2 workers / 1 worker (allreduce) samples/s", two_ar.samples_per_s / one.samples_per_s,
              TARGET_WORKERS);
  target_line("ps / allreduce samples/s (2 workers)", two_ps.samples_per_s / two_ar.samples_per_s,
              TARGET_PS);
  bench_print_load("at end");
  return 0;
}
