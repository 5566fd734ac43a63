#include "bench/sgemm_rate.h"

#include <cblas.h>
#include <stdlib.h>

#include "bench/bench_util.h"
#include "dpt/device.h"
#include "dpt/rng.h"

static void run_call(const sgemm_call *c)
{
  cblas_sgemm(CblasRowMajor, c->ta ? CblasTrans : CblasNoTrans, c->tb ? CblasTrans : CblasNoTrans,
              c->m, c->n, c->k, 1.f, c->a, c->lda, c->b, c->ldb, 0.f, c->c, c->ldc);
}

/* The other way the trainer can run a GEMM on `threads` threads: a CPU device's, cut by rows over
 * its own pool with one OpenBLAS thread each (kernels/cpu_pool.h). The ceilings take the faster
 * of the two, so that neither way flatters the figure it bounds. */
typedef struct pooled {
  dpt_device dev;
  const sgemm_call *call;
  const sgemm_step *step;
} pooled;

static void run_pooled_call(dpt_device *dev, const sgemm_call *c)
{
  dpt_err err = {0};
  (void)dpt_dev_gemm(dev, c->ta, c->tb, c->m, c->n, c->k, 1.f, c->a, c->lda, c->b, c->ldb, 0.f,
                     c->c, c->ldc, &err); /* the shapes are the trainer's: valid */
}

static void pooled_call_fn(void *ctx)
{
  pooled *p = ctx;
  run_pooled_call(&p->dev, p->call);
}

static void pooled_step_fn(void *ctx)
{
  pooled *p = ctx;
  for (int i = 0; i < p->step->n_calls; i++) run_pooled_call(&p->dev, &p->step->calls[i]);
}

/* A device with `threads` threads for the pooled way; false when it would be OpenBLAS's way again
 * (one thread) or cannot open. */
static bool open_pooled(int threads, pooled *p)
{
  dpt_err err = {0};
  return threads > 1 && dpt_device_open(DPT_DEVICE_CPU, 0, threads, &p->dev, &err) == DPT_OK;
}

/* Operands hold ordinary values (uniform in [-1, 1)): no denormals or zeros to flatter a kernel. */
static float *alloc_filled(size_t n, dpt_rng *rng)
{
  float *p = malloc(n * sizeof *p);
  if (p)
    for (size_t i = 0; i < n; i++) p[i] = 2.f * dpt_rng_uniform(rng) - 1.f;
  return p;
}

static void add_call(sgemm_step *st, const char *phase, int layer, bool ta, bool tb, int m, int n,
                     int k, const float *a, int lda, const float *b, int ldb, float *c, int ldc)
{
  st->calls[st->n_calls++] = (sgemm_call){phase, layer, ta, tb, m, n, k, a, b, c, lda, ldb, ldc};
}

bool sgemm_step_create(const dpt_mlp_shape *s, int rows, sgemm_step *out)
{
  const int L = s->n_layers;
  size_t rw = (size_t)rows, widest = 0, n = 0;
  for (int l = 0; l <= L; l++) {
    n += rw * (size_t)s->sizes[l]; /* acts[l] */
    if (l > 0) n += 2 * (size_t)s->sizes[l] * (size_t)s->sizes[l - 1]; /* W_l, dW_l */
    if ((size_t)s->sizes[l] > widest) widest = (size_t)s->sizes[l];
  }
  n += 2 * rw * widest; /* the ping-pong deltas */
  dpt_rng rng;
  dpt_rng_seed(&rng, 1);
  *out = (sgemm_step){.rows = rows, .arena = alloc_filled(n, &rng)};
  if (!out->arena) return false;

  float *p = out->arena, *acts[DPT_MAX_LAYERS + 1], *w[DPT_MAX_LAYERS + 1], *dw[DPT_MAX_LAYERS + 1];
  for (int l = 0; l <= L; l++) {
    acts[l] = p;
    p += rw * (size_t)s->sizes[l];
    if (l == 0) continue;
    w[l] = p;
    p += (size_t)s->sizes[l] * (size_t)s->sizes[l - 1];
    dw[l] = p;
    p += (size_t)s->sizes[l] * (size_t)s->sizes[l - 1];
  }
  float *delta[2] = {p, p + rw * widest};

  for (int l = 1; l <= L; l++) {
    int in = s->sizes[l - 1], o = s->sizes[l];
    add_call(out, "fwd", l, false, true, rows, o, in, acts[l - 1], in, w[l], in, acts[l], o);
  }
  int cur = 0;
  for (int l = L; l >= 1; l--) {
    int in = s->sizes[l - 1], o = s->sizes[l];
    add_call(out, "dW", l, true, false, o, in, rows, delta[cur], o, acts[l - 1], in, dw[l], in);
    if (l > 1) {
      add_call(out, "dX", l, false, false, rows, in, o, delta[cur], o, w[l], in, delta[1 - cur], in);
      cur = 1 - cur;
    }
  }
  return true;
}

void sgemm_step_destroy(sgemm_step *st)
{
  free(st->arena);
  st->arena = NULL;
  st->n_calls = 0;
}

double sgemm_call_flops(const sgemm_call *c)
{
  return 2.0 * c->m * (double)c->n * c->k;
}

double sgemm_step_flops(const sgemm_step *st)
{
  double f = 0;
  for (int i = 0; i < st->n_calls; i++) f += sgemm_call_flops(&st->calls[i]);
  return f;
}

static void call_fn(void *ctx)
{
  run_call(ctx);
}

static void step_fn(void *ctx)
{
  const sgemm_step *st = ctx;
  for (int i = 0; i < st->n_calls; i++) run_call(&st->calls[i]);
}

double sgemm_call_time(const sgemm_call *c, int threads, int reps)
{
  pooled p = {.call = c};
  double t_pool = -1;
  if (open_pooled(threads, &p)) {
    t_pool = bench_time_median(pooled_call_fn, &p, 2, reps);
    dpt_device_close(&p.dev);
  }
  openblas_set_num_threads(threads); /* after the device, which left OpenBLAS one thread */
  double t = bench_time_median(call_fn, (void *)c, 2, reps);
  return t_pool > 0 && t_pool < t ? t_pool : t;
}

double sgemm_square_gflops(int n, int threads, int reps)
{
  size_t nn = (size_t)n * (size_t)n;
  dpt_rng rng;
  dpt_rng_seed(&rng, 2);
  float *a = alloc_filled(3 * nn, &rng);
  if (!a) return -1.0;
  sgemm_call c = {"square", 0, false, false, n, n, n, a, a + nn, a + 2 * nn, n, n, n};
  double t = sgemm_call_time(&c, threads, reps);
  free(a);
  return sgemm_call_flops(&c) / t * 1e-9;
}

int sgemm_trainer_threads(int workers, int cores)
{
  return workers == 1 ? cores : 1;
}

bool sgemm_probe_create(const dpt_mlp_shape *s, int batch, int workers, int threads, int cores,
                        int cap, sgemm_probe *out)
{
  *out = (sgemm_probe){.batch = batch,
                       .workers = workers,
                       .threads = threads,
                       .parallel = workers < cores ? workers : cores,
                       .cap = cap};
  if (!sgemm_step_create(s, (batch + workers - 1) / workers, &out->step)) return false;
  out->times = malloc((size_t)cap * sizeof *out->times);
  out->pooled_times = malloc((size_t)cap * sizeof *out->pooled_times);
  if (out->times && out->pooled_times) return true;
  sgemm_probe_destroy(out);
  return false;
}

void sgemm_probe_sample(sgemm_probe *p, int reps)
{
  if (reps > p->cap - p->n) reps = p->cap - p->n;
  pooled way = {.step = &p->step};
  if (open_pooled(p->threads, &way)) {
    pooled_step_fn(&way); /* warm the caches and the pool */
    bench_time_calls(pooled_step_fn, &way, p->pooled_times + p->n, reps);
    dpt_device_close(&way.dev);
    p->pooled = true;
  }
  openblas_set_num_threads(p->threads);
  step_fn(&p->step); /* warm the caches and OpenBLAS's threads after whatever ran before */
  bench_time_calls(step_fn, &p->step, p->times + p->n, reps);
  p->n += reps;
}

sgemm_ceiling sgemm_probe_ceiling(sgemm_probe *p)
{
  double step_s = bench_median(p->times, p->n);
  double pooled_s = p->pooled ? bench_median(p->pooled_times, p->n) : 0;
  if (pooled_s > 0 && pooled_s < step_s) step_s = pooled_s;
  return (sgemm_ceiling){.rows = p->step.rows,
                         .threads = p->threads,
                         .parallel = p->parallel,
                         .samples = p->n,
                         .step_s = step_s,
                         .gemm_gflops = sgemm_step_flops(&p->step) / step_s * 1e-9,
                         .samples_per_s = p->parallel * ((double)p->batch / p->workers) / step_s};
}

void sgemm_probe_destroy(sgemm_probe *p)
{
  sgemm_step_destroy(&p->step);
  free(p->times);
  free(p->pooled_times);
  p->times = p->pooled_times = NULL;
}

bool sgemm_measure_ceiling(const dpt_mlp_shape *s, int batch, int workers, int threads, int cores,
                           int reps, sgemm_ceiling *out)
{
  sgemm_probe p;
  if (!sgemm_probe_create(s, batch, workers, threads, cores, reps, &p)) return false;
  sgemm_probe_sample(&p, reps);
  *out = sgemm_probe_ceiling(&p);
  sgemm_probe_destroy(&p);
  return true;
}
