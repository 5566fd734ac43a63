/* bench_gpu_step: the GPU step's time for 1..N GPUs and both strategies (issue 14, item 9) beside
 * what the step's work allows on these GPUs: its GEMM FLOPs over the measured cuBLAS sgemm rate,
 * and the bytes it must move over the measured device memory bandwidth. Trains the reference
 * model (MLP 784-512-512-10, global batch 256) for one epoch on each configuration. Exits 3
 * without a CUDA device. On the emulated device (docs/emulator.md) it runs, but its figures are
 * the CPU's and say nothing about a GPU: the header says so. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench_opts.h"
#include "bench/bench_util.h"
#include "dpt/device.h"
#include "dpt/timer.h"
#include "dpt/trainer.h"

enum { MAX_GPUS_LIST = 8, REPS = 5 };

typedef struct opts {
  const char *data;
  int batch, sgemm_n, copy_mb;
  int hidden[DPT_MAX_LAYERS - 1], n_hidden;
  int gpus[MAX_GPUS_LIST], n_gpus;
} opts;

/* The device's sustained rates, measured on device 0. */
typedef struct gpu_rates {
  double gflops; /* cuBLAS sgemm of sgemm_n^3 */
  double gbps;   /* device-to-device copy: bytes read plus written per second */
} gpu_rates;

static int fail(const char *what, const dpt_err *err)
{
  fprintf(stderr, "bench_gpu_step: error: %s: %s\n", what, err->msg);
  return 1;
}

/* Median seconds of reps calls of one queued op and a wait for it. */
static int time_op(dpt_device *d, int (*op)(dpt_device *, void *, dpt_err *), void *arg,
                   double *out, dpt_err *err)
{
  double t[REPS];
  int rc = op(d, arg, err); /* warm-up: the library's first call loads its kernels */
  if (!rc) rc = dpt_dev_sync(d, err);
  for (int r = 0; r < REPS && !rc; r++) {
    double t0 = dpt_now();
    rc = op(d, arg, err);
    if (!rc) rc = dpt_dev_sync(d, err);
    t[r] = dpt_now() - t0;
  }
  if (!rc) *out = bench_median(t, REPS);
  return rc;
}

typedef struct bufs {
  int n;
  size_t bytes;
  float *a, *b, *c;
} bufs;

static int one_gemm(dpt_device *d, void *arg, dpt_err *err)
{
  bufs *x = arg;
  return dpt_dev_gemm(d, false, false, x->n, x->n, x->n, 1.f, x->a, x->n, x->b, x->n, 0.f, x->c,
                      x->n, err);
}

static int one_copy(dpt_device *d, void *arg, dpt_err *err)
{
  bufs *x = arg;
  return dpt_dev_copy_d2d(d, x->b, x->a, x->bytes, err);
}

static int measure_rates(const opts *o, gpu_rates *out, dpt_err *err)
{
  dpt_device d;
  int rc = dpt_device_open(DPT_DEVICE_CUDA, 0, 0, &d, err);
  if (rc) return rc;
  size_t n = (size_t)o->sgemm_n, gemm_bytes = n * n * sizeof(float);
  size_t copy_bytes = (size_t)o->copy_mb << 20;
  size_t bytes = gemm_bytes > copy_bytes ? gemm_bytes : copy_bytes;
  bufs x = {.n = o->sgemm_n, .bytes = copy_bytes};
  rc = dpt_dev_alloc(&d, bytes, (void **)&x.a, err);
  if (!rc) rc = dpt_dev_alloc(&d, bytes, (void **)&x.b, err);
  if (!rc) rc = dpt_dev_alloc(&d, gemm_bytes, (void **)&x.c, err);
  if (!rc) rc = dpt_dev_zero(&d, x.a, bytes, err);
  if (!rc) rc = dpt_dev_zero(&d, x.b, bytes, err);
  double gemm_s = 0, copy_s = 0;
  if (!rc) rc = time_op(&d, one_gemm, &x, &gemm_s, err);
  if (!rc) rc = time_op(&d, one_copy, &x, &copy_s, err);
  if (!rc) *out = (gpu_rates){.gflops = 2.0 * (double)n * n * n / gemm_s / 1e9,
                              .gbps = 2.0 * (double)copy_bytes / copy_s / 1e9};
  dpt_dev_free(&d, x.a);
  dpt_dev_free(&d, x.b);
  dpt_dev_free(&d, x.c);
  dpt_device_close(&d);
  return rc;
}

/* One configuration's run and the ceilings of its step on one GPU. */
typedef struct row {
  int gpus;
  dpt_strategy strategy;
  double step_ms, math_ms, memory_ms, launches, host_waits;
} row;

static int train(const opts *o, int gpus, dpt_strategy s, const gpu_rates *rates, row *out,
                 dpt_err *err)
{
  dpt_config cfg;
  dpt_config_defaults(&cfg);
  cfg.data_dir = o->data;
  cfg.epochs = 1;
  cfg.batch = o->batch;
  memcpy(cfg.hidden, o->hidden, sizeof cfg.hidden);
  cfg.n_hidden = o->n_hidden;
  cfg.workers = gpus;
  cfg.strategy = s;
  cfg.device = DPT_DEVICE_SELECT_CUDA;
  cfg.quiet = true;
  dpt_result res;
  dpt_mlp_shape shape;
  int rc = dpt_train(&cfg, NULL, &res, err);
  if (!rc) rc = dpt_mlp_shape_make(res.features, res.hidden, res.n_hidden, res.classes, &shape, err);
  if (rc) return rc;
  double rows = (double)o->batch / gpus, widths = 0;
  for (int l = 0; l <= shape.n_layers; l++) widths += shape.sizes[l];
  /* Forward, weight and input gradients: 3 x the forward's FLOPs. Bytes: the parameters read
   * by the forward and the backward, the gradient written and read by the step, parameters and
   * velocity read and written by it; each activation written once and read twice. */
  double flops = 3.0 * dpt_mlp_flops_per_sample(&shape) * rows;
  double bytes = sizeof(float) * (7.0 * (double)res.params + 3.0 * rows * widths);
  *out = (row){.gpus = gpus,
               .strategy = s,
               .step_ms = 1e3 * o->batch / res.train_samples_per_sec,
               .math_ms = 1e3 * flops / (rates->gflops * 1e9),
               .memory_ms = 1e3 * bytes / (rates->gbps * 1e9),
               .launches = res.cuda.launches_per_step,
               .host_waits = res.cuda.host_waits_per_step};
  return DPT_OK;
}

static void print_row(const row *r)
{
  double ceiling = r->math_ms > r->memory_ms ? r->math_ms : r->memory_ms;
  printf("%4d %-9s %9.3f %9.4f %9.4f %9.4f %7.3f %9.1f %10.2f\n", r->gpus,
         dpt_strategy_name(r->strategy), r->step_ms, r->math_ms, r->memory_ms, ceiling,
         ceiling / r->step_ms, r->launches, r->host_waits);
  fflush(stdout);
}

int main(int argc, char **argv)
{
  opts o = {.data = DPT_DEFAULT_DATA_DIR, .batch = 256, .sgemm_n = 4096, .copy_mb = 256,
            .hidden = {512, 512}, .n_hidden = 2};
  const bench_opt table[] = {
      BENCH_STR("--data", &o.data),
      BENCH_INT("--batch", &o.batch),
      BENCH_LIST("--hidden", o.hidden, &o.n_hidden, DPT_MAX_LAYERS - 1),
      BENCH_LIST("--gpus", o.gpus, &o.n_gpus, MAX_GPUS_LIST),
      BENCH_INT("--sgemm-n", &o.sgemm_n),
      BENCH_INT("--copy-mb", &o.copy_mb),
  };
  if (!bench_parse_opts(argc, argv, table, (int)(sizeof table / sizeof table[0]),
                        "bench_gpu_step [--data DIR] [--batch 256] [--hidden 512,512] "
                        "[--gpus 1,2,4,8 (up to the GPUs found)] [--sgemm-n 4096] [--copy-mb 256]"))
    return 2;
  int count = 0;
  dpt_err err = {0};
  if (dpt_cuda_device_count(&count, &err) || count == 0) {
    printf("bench_gpu_step: no CUDA device here (%s): nothing to measure\n",
           err.msg[0] ? err.msg : "none found");
    return 3;
  }
  if (o.n_gpus == 0)
    for (int g = 1; g <= count && o.n_gpus < MAX_GPUS_LIST; g *= 2) o.gpus[o.n_gpus++] = g;
  for (int i = 0; i < o.n_gpus; i++)
    if (o.gpus[i] > count) {
      fprintf(stderr, "bench_gpu_step: --gpus %d: only %d CUDA device(s) here\n", o.gpus[i], count);
      return 2;
    }
  gpu_rates rates;
  if (measure_rates(&o, &rates, &err)) return fail("measuring device 0", &err);
  dpt_dev_counts unused;
  bool emulated = dpt_cuda_emu_counts(0, &unused);
  printf("# bench_gpu_step: %d CUDA device(s)%s; device 0: sgemm %d^3 %.1f GFLOP/s, copy %.1f "
         "GB/s (read + written)\n",
         count, emulated ? " (EMULATED on the CPU: these figures are not a GPU's)" : "",
         o.sgemm_n, rates.gflops, rates.gbps);
  printf("# step: measured, one epoch; math: the step's GEMM FLOPs on one GPU / sgemm rate; "
         "memory: its bytes / copy rate; ratio: the larger ceiling / step\n");
  printf("%4s %-9s %9s %9s %9s %9s %7s %9s %10s\n", "gpus", "strategy", "step_ms", "math_ms",
         "memory_ms", "ceiling", "ratio", "launches", "host_waits");
  for (int i = 0; i < o.n_gpus; i++)
    for (dpt_strategy s = DPT_STRATEGY_ALLREDUCE; s <= DPT_STRATEGY_PS; s++) {
      row r;
      if (train(&o, o.gpus[i], s, &rates, &r, &err)) return fail(dpt_strategy_name(s), &err);
      print_row(&r);
    }
  return 0;
}
