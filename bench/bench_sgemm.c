/* bench_sgemm: the OpenBLAS sgemm rate on each GEMM of one training step, the whole step's rate,
 * the training samples/s ceiling it implies per worker count, and the square-sgemm peak for
 * reference. */
#include <stdio.h>
#include <string.h>

#include "bench/bench_opts.h"
#include "bench/bench_util.h"
#include "bench/sgemm_rate.h"
#include "dpt/cores.h"

typedef struct opts {
  int batch, features, classes, threads, reps, peak_n;
  int hidden[DPT_MAX_LAYERS - 1], n_hidden;
  int workers[8], n_workers;
} opts;

static bool parse(int argc, char **argv, opts *o)
{
  *o = (opts){.batch = 256, .features = 784, .classes = 10, .threads = dpt_cores_online(), .reps = 20,
              .peak_n = 2048, .hidden = {512, 512}, .n_hidden = 2, .workers = {1, 2, 4},
              .n_workers = 3};
  const bench_opt table[] = {
      BENCH_INT("--batch", &o->batch),
      BENCH_LIST("--hidden", o->hidden, &o->n_hidden, DPT_MAX_LAYERS - 1),
      BENCH_INT("--features", &o->features),
      BENCH_INT("--classes", &o->classes),
      BENCH_INT("--threads", &o->threads),
      BENCH_LIST("--workers", o->workers, &o->n_workers, 8),
      BENCH_INT("--reps", &o->reps),
      BENCH_INT("--peak-n", &o->peak_n),
  };
  return bench_parse_opts(argc, argv, table, (int)(sizeof table / sizeof table[0]),
                          "bench_sgemm [--batch 256] [--hidden 512,512] [--features 784] "
                          "[--classes 10] [--threads CORES] [--workers 1,2,4] [--reps 20] "
                          "[--peak-n 2048]");
}

static int oom(void)
{
  fprintf(stderr, "bench_sgemm: error: out of memory\n");
  return 1;
}

int main(int argc, char **argv)
{
  opts o;
  dpt_mlp_shape shape;
  dpt_err err = {0};
  if (!parse(argc, argv, &o)) return 2;
  if (dpt_mlp_shape_make(o.features, o.hidden, o.n_hidden, o.classes, &shape, &err)) {
    fprintf(stderr, "bench_sgemm: error: %s\n", err.msg);
    return 2;
  }
  sgemm_step st;
  if (!sgemm_step_create(&shape, o.batch, &st)) return oom();
  double peak = sgemm_square_gflops(o.peak_n, o.threads, 5);
  if (peak < 0) return oom();

  printf("bench_sgemm: one training step's GEMMs, batch %d, %d BLAS thread(s), median of %d\n",
         o.batch, o.threads, o.reps);
  bench_print_load("at start");
  printf("ceiling: %dx%dx%d square sgemm = %.1f GFLOP/s (median of 5)\n\n", o.peak_n, o.peak_n,
         o.peak_n, peak);
  printf("%-5s %5s %2s %2s %6s %6s %6s %10s %9s %7s\n", "phase", "layer", "ta", "tb", "m", "n",
         "k", "time(us)", "GFLOP/s", "/peak");
  double fwd_flops = 0;
  for (int i = 0; i < st.n_calls; i++) {
    const sgemm_call *c = &st.calls[i];
    double t = sgemm_call_time(c, o.threads, o.reps);
    double g = sgemm_call_flops(c) / t * 1e-9;
    if (!strcmp(c->phase, "fwd")) fwd_flops += sgemm_call_flops(c);
    printf("%-5s %5d %2c %2c %6d %6d %6d %10.1f %9.1f %7.2f\n", c->phase, c->layer,
           c->ta ? 'T' : 'N', c->tb ? 'T' : 'N', c->m, c->n, c->k, t * 1e6, g, g / peak);
  }
  double step_flops = sgemm_step_flops(&st);
  sgemm_step_destroy(&st);
  sgemm_ceiling one;
  if (!sgemm_measure_ceiling(&shape, o.batch, 1, o.threads, dpt_cores_online(), o.reps, &one))
    return oom();
  printf("%-5s %5s %2s %2s %6s %6s %6s %10.1f %9.1f %7.2f\n", "step", "all", "", "", "", "", "",
         one.step_s * 1e6, one.gemm_gflops, one.gemm_gflops / peak);
  /* Model FLOPs = 3 x forward; the step executes less (the first layer has no dX GEMM). */
  double model_per_sample = 3.0 * fwd_flops / o.batch;
  printf("\nmodel FLOPs/sample (3 x forward): %.3f MFLOP; the step executes %.3f MFLOP/sample\n",
         model_per_sample * 1e-6, step_flops / o.batch * 1e-6);
  printf("model FLOP rate of the step: %.1f GFLOP/s; ceiling samples/s = batch / t_step = %.0f\n",
         model_per_sample * o.batch / one.step_s * 1e-9, one.samples_per_s);

  printf("\nsamples/s ceilings as bench_train computes them (%d cores):\n", dpt_cores_online());
  printf("%7s %9s %7s %8s %12s %10s %14s\n", "workers", "rows/wkr", "threads", "parallel",
         "t_step(us)", "GFLOP/s", "ceiling(s/s)");
  for (int i = 0; i < o.n_workers; i++) {
    sgemm_ceiling c;
    int threads = sgemm_trainer_threads(o.workers[i], dpt_cores_online());
    if (!sgemm_measure_ceiling(&shape, o.batch, o.workers[i], threads, dpt_cores_online(), o.reps, &c))
      return oom();
    printf("%7d %9d %7d %8d %12.1f %10.1f %14.0f\n", o.workers[i], c.rows, c.threads, c.parallel,
           c.step_s * 1e6, c.gemm_gflops, c.samples_per_s);
  }
  printf("\ntargets: none here (a reference: bench_train compares training with these ceilings)\n");
  bench_print_load("at end");
  return 0;
}
