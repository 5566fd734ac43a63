/* kernels/ on the CPU backend: every op against a naive reference (tol + |ref| * eps), the
 * argument checks, memory ops, and the registry's answers on this machine. The kn_ bodies tested
 * here are the ones the CUDA kernels run. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dpt/device.h"
#include "tests/lib/test_kernels_ref.h"
#include "tests/lib/test_util.h"

static void open_cpu(dpt_device *d)
{
  dpt_err err = {0};
  int rc = dpt_device_open(DPT_DEVICE_CPU, 0, 1, d, &err);
  if (rc) printf("\n  %s\n", err.msg);
  CU_ASSERT_EQUAL_FATAL(rc, 0);
}

/* --- gemm ------------------------------------------------------------------------------------ */

static int run_device_gemm(void *dev, const ref_gemm_data *g, float alpha, float beta, float *c)
{
  dpt_err err = {0};
  return dpt_dev_gemm(dev, g->ta, g->tb, g->m, g->n, g->k, alpha, g->a, g->lda, g->b, g->ldb, beta,
                      c, g->ldc, &err);
}

static void test_gemm_all_transposes_and_shapes(void)
{
  dpt_device d;
  open_cpu(&d);
  const float scales[][2] = {{1.f, 0.f}, {1.25f, -0.5f}, {-2.f, 1.f}};
  ref_gemm_sweep(5, scales, 3, run_device_gemm, NULL, &d);
  dpt_device_close(&d);
}

/* A device with 3 threads cuts GEMMs of over 2^20 multiply-adds into 3 parts by rows of C, or
 * by columns when C is wider than tall (kernels/device_cpu.c): each transpose with padded leading dimensions and beta both 0 (C not
 * read) and not, against the reference, every row's padding untouched, and the same bits again
 * when repeated (the cut is fixed). The sizes leave the parts unequal. */
static void test_gemm_split_over_threads(void)
{
  dpt_device d;
  dpt_err err = {0};
  CU_ASSERT_EQUAL_FATAL(dpt_device_open(DPT_DEVICE_CPU, 0, 3, &d, &err), 0);
  dpt_rng rng;
  dpt_rng_seed(&rng, 17);
  const ref_gemm_case shapes[] = {{.m = 301, .n = 67, .k = 131, .pad = 3},
                                  {.m = 67, .n = 301, .k = 131, .pad = 2}};
  for (int t = 0; t < 8; t++)
    for (int b = 0; b < 2; b++) {
      float alpha = 1.5f, beta = b ? -0.75f : 0.f;
      ref_gemm_data g;
      ref_gemm_data_make(&rng, t & 1, t & 2, shapes[t / 4], beta, &g);
      float *again = malloc(g.c_len * sizeof(float));
      memcpy(again, g.c, g.c_len * sizeof(float));
      ref_gemm(g.ta, g.tb, g.m, g.n, g.k, alpha, g.a, g.lda, g.b, g.ldb, beta, g.c_ref, g.ldc);
      CU_ASSERT_EQUAL(run_device_gemm(&d, &g, alpha, beta, g.c), 0);
      CU_ASSERT_EQUAL(ref_gemm_mismatches(&g, 1e-4f, 1e-5f), 0);
      CU_ASSERT_EQUAL(run_device_gemm(&d, &g, alpha, beta, again), 0);
      CU_ASSERT_EQUAL(memcmp(again, g.c, g.c_len * sizeof(float)), 0);
      free(again);
      ref_gemm_data_free(&g);
    }
  dpt_device_close(&d);
}

static void test_gemm_rejects_bad_arguments(void)
{
  dpt_device d;
  open_cpu(&d);
  float a[12] = {0}, b[12] = {0}, c[12] = {0};
  dpt_err err = {0};
  CU_ASSERT_EQUAL(dpt_dev_gemm(&d, false, false, 2, 3, 4, 1.f, a, 3, b, 3, 0.f, c, 3, &err),
                  DPT_EINTERNAL);
  CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "cpu gemm: leading dimension of A is 3"));
  dpt_err_clear(&err);
  CU_ASSERT_EQUAL(dpt_dev_gemm(&d, false, false, 2, 3, 4, 1.f, NULL, 4, b, 3, 0.f, c, 3, &err),
                  DPT_EINTERNAL);
  CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "cpu gemm: buffer argument"));
  dpt_err_clear(&err);
  CU_ASSERT_EQUAL(dpt_dev_gemm(&d, false, false, -2, 3, 4, 1.f, a, 4, b, 3, 0.f, c, 3, &err),
                  DPT_EINTERNAL);
  /* Nothing to touch: NULL buffers are fine. */
  dpt_err_clear(&err);
  CU_ASSERT_EQUAL(
      dpt_dev_gemm(&d, false, false, 0, 3, 4, 1.f, NULL, 4, NULL, 3, 0.f, NULL, 3, &err), 0);
  dpt_device_close(&d);
}

/* --- col_sum ---------------------------------------------------------------------------------- */

static void check_col_sum(dpt_device *d, dpt_rng *rng, int rows, int cols, float alpha, float beta)
{
  float *x = ref_random(rng, (size_t)rows * cols), *y = ref_random(rng, (size_t)cols);
  float *want = calloc((size_t)cols, sizeof *want);
  CU_ASSERT_PTR_NOT_NULL_FATAL(want);
  for (int c = 0; c < cols; c++) {
    double s = 0;
    for (int r = 0; r < rows; r++) s += x[(size_t)r * cols + c];
    want[c] = (float)(alpha * s + (double)beta * y[c]);
  }
  dpt_err err = {0};
  CU_ASSERT_EQUAL(dpt_dev_col_sum(d, rows, cols, alpha, x, beta, y, &err), 0);
  CU_ASSERT_EQUAL(dpt_test_count_mismatch(y, want, (size_t)cols, 1e-4f, 1e-5f), 0);
  free(x);
  free(y);
  free(want);
}

static void test_col_sum(void)
{
  dpt_device d;
  open_cpu(&d);
  dpt_rng rng;
  dpt_rng_seed(&rng, 6);
  for (const ref_col_sum_case *s = ref_col_sum_cases; s->rows >= 0; s++)
    check_col_sum(&d, &rng, s->rows, s->cols, s->alpha, s->beta);
  dpt_device_close(&d);
}

static void test_col_sum_empty_and_bad(void)
{
  dpt_device d;
  open_cpu(&d);
  float y[3] = {1.f, 2.f, 3.f};
  dpt_err err = {0};
  /* No rows: y stays as it is (BLAS's quick return, shared by cuBLAS). */
  CU_ASSERT_EQUAL(dpt_dev_col_sum(&d, 0, 3, 1.f, NULL, 0.f, y, &err), 0);
  CU_ASSERT_EQUAL(y[0], 1.f);
  CU_ASSERT_EQUAL(y[2], 3.f);
  CU_ASSERT_EQUAL(dpt_dev_col_sum(&d, -1, 3, 1.f, y, 0.f, y, &err), DPT_EINTERNAL);
  CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "cpu col_sum: negative size -1 x 3"));
  dpt_err_clear(&err);
  CU_ASSERT_EQUAL(dpt_dev_col_sum(&d, 2, 3, 1.f, NULL, 0.f, y, &err), DPT_EINTERNAL);
  dpt_device_close(&d);
}

/* --- element-wise ----------------------------------------------------------------------------- */

static void test_bias_act(void)
{
  dpt_device d;
  open_cpu(&d);
  dpt_rng rng;
  dpt_rng_seed(&rng, 7);
  enum { ROWS = 13, COLS = 37, N = ROWS * COLS };
  float *bias = ref_random(&rng, COLS), *y0 = ref_random(&rng, N);
  float y[N], want[N];
  for (int relu = 0; relu < 2; relu++) {
    memcpy(y, y0, sizeof y);
    for (int r = 0; r < ROWS; r++)
      for (int c = 0; c < COLS; c++) {
        float v = y0[r * COLS + c] + bias[c];
        want[r * COLS + c] = relu && v < 0.f ? 0.f : v;
      }
    dpt_err err = {0};
    CU_ASSERT_EQUAL(dpt_dev_bias_act(&d, ROWS, COLS, bias, relu, y, &err), 0);
    CU_ASSERT_EQUAL(dpt_test_count_mismatch(y, want, N, 0.f, 0.f), 0);
  }
  size_t zeros = 0;
  for (int i = 0; i < N; i++) zeros += y[i] == 0.f;
  CU_ASSERT(zeros > N / 5 && zeros < N * 4 / 5); /* the relu case really clipped something */
  dpt_err err = {0};
  CU_ASSERT_EQUAL(dpt_dev_bias_act(&d, 2, 3, NULL, true, y, &err), DPT_EINTERNAL);
  free(bias);
  free(y0);
  dpt_device_close(&d);
}

static void test_relu_bwd(void)
{
  dpt_device d;
  open_cpu(&d);
  const float y[6] = {-1.f, 0.f, 0.5f, 3.f, -0.f, 1e-30f};
  float dy[6] = {1.f, 2.f, 3.f, 4.f, 5.f, 6.f}, dx[6];
  const float want[6] = {0.f, 0.f, 3.f, 4.f, 0.f, 6.f};
  dpt_err err = {0};
  CU_ASSERT_EQUAL(dpt_dev_relu_bwd(&d, 6, y, dy, dx, &err), 0);
  CU_ASSERT_EQUAL(dpt_test_count_mismatch(dx, want, 6, 0.f, 0.f), 0);
  /* dx may alias dy. */
  CU_ASSERT_EQUAL(dpt_dev_relu_bwd(&d, 6, y, dy, dy, &err), 0);
  CU_ASSERT_EQUAL(dpt_test_count_mismatch(dy, want, 6, 0.f, 0.f), 0);
  CU_ASSERT_EQUAL(dpt_dev_relu_bwd(&d, 6, y, NULL, dy, &err), DPT_EINTERNAL);
  CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "cpu relu_bwd: buffer argument 2 of 3 is NULL"));
  dpt_err_clear(&err);
  CU_ASSERT_EQUAL(dpt_dev_relu_bwd(&d, 0, NULL, NULL, NULL, &err), 0);
  dpt_device_close(&d);
}

static void test_sgd_step_hand_computed(void)
{
  dpt_device d;
  open_cpu(&d);
  /* g = grad + wd*p; v = momentum*v + g; p = p - lr*v, by hand:
   *   p=1,  g=0.5, v=0.2:  g'=0.51,  v=0.18+0.51=0.69,   p=1-0.069=0.931
   *   p=-2, g=0,   v=1:    g'=-0.02, v=0.9-0.02=0.88,    p=-2-0.088=-2.088
   *   p=0,  g=-1,  v=0:    g'=-1,    v=-1,               p=0.1 */
  float p[3] = {1.f, -2.f, 0.f}, g[3] = {0.5f, 0.f, -1.f}, v[3] = {0.2f, 1.f, 0.f};
  const float want_p[3] = {0.931f, -2.088f, 0.1f}, want_v[3] = {0.69f, 0.88f, -1.f};
  dpt_err err = {0};
  CU_ASSERT_EQUAL(dpt_dev_sgd_step(&d, 3, p, g, v, 0.1f, 0.9f, 0.01f, NULL, &err), 0);
  CU_ASSERT_EQUAL(dpt_test_count_mismatch(p, want_p, 3, 1e-6f, 1e-6f), 0);
  CU_ASSERT_EQUAL(dpt_test_count_mismatch(v, want_v, 3, 1e-6f, 1e-6f), 0);
  /* No momentum, no decay: plain SGD, exact for these values. */
  float p2[2] = {1.f, 2.f}, g2[2] = {4.f, -8.f}, v2[2] = {0.f, 0.f};
  const float want_p2[2] = {0.5f, 3.f};
  CU_ASSERT_EQUAL(dpt_dev_sgd_step(&d, 2, p2, g2, v2, 0.125f, 0.f, 0.f, NULL, &err), 0);
  CU_ASSERT_EQUAL(dpt_test_count_mismatch(p2, want_p2, 2, 0.f, 0.f), 0);
  CU_ASSERT_EQUAL(dpt_dev_sgd_step(&d, 2, p2, g2, NULL, 0.1f, 0.9f, 0.f, NULL, &err), DPT_EINTERNAL);
  dpt_device_close(&d);
}

/* Skip votes in device memory gate the step: any vote leaves parameters and velocity as they are
 * (kn_step_skipped); none steps as without them. */
static void test_sgd_step_skip_votes(void)
{
  dpt_device d;
  open_cpu(&d);
  const float p0[2] = {1.f, -2.f}, g[2] = {0.5f, 0.25f}, v0[2] = {0.2f, 1.f};
  float p[2], v[2], want_p[2], want_v[2];
  dpt_err err = {0};
  memcpy(want_p, p0, sizeof p0);
  memcpy(want_v, v0, sizeof v0);
  CU_ASSERT_EQUAL(dpt_dev_sgd_step(&d, 2, want_p, g, want_v, 0.1f, 0.9f, 0.01f, NULL, &err), 0);
  const float votes[] = {0.f, 1.f, 3.f};
  for (int i = 0; i < 3; i++) {
    memcpy(p, p0, sizeof p0);
    memcpy(v, v0, sizeof v0);
    CU_ASSERT_EQUAL(dpt_dev_sgd_step(&d, 2, p, g, v, 0.1f, 0.9f, 0.01f, &votes[i], &err), 0);
    bool skipped = votes[i] > 0.f;
    CU_ASSERT_EQUAL(memcmp(p, skipped ? p0 : want_p, sizeof p), 0);
    CU_ASSERT_EQUAL(memcmp(v, skipped ? v0 : want_v, sizeof v), 0);
  }
  dpt_device_close(&d);
}

static void test_add(void)
{
  dpt_device d;
  open_cpu(&d);
  enum { N = 1001 }; /* odd: a vector tail */
  float x[N], acc[N], want[N];
  for (int i = 0; i < N; i++) {
    x[i] = (float)(i % 17 - 8);
    acc[i] = (float)(i % 5);
    want[i] = acc[i] + x[i];
  }
  dpt_err err = {0};
  CU_ASSERT_EQUAL(dpt_dev_add(&d, N, x, acc, &err), 0);
  CU_ASSERT_EQUAL(dpt_test_count_mismatch(acc, want, N, 0.f, 0.f), 0);
  CU_ASSERT_EQUAL(dpt_dev_add(&d, N, NULL, acc, &err), DPT_EINTERNAL);
  dpt_device_close(&d);
}

/* --- softmax cross-entropy -------------------------------------------------------------------- */

typedef struct softmax_want {
  float *dlogits, *loss;
  int32_t *argmax;
} softmax_want;

/* The reference, in double. */
static void ref_softmax_xent(int rows, int cols, const float *x, const int32_t *labels, float scale,
                             softmax_want *w)
{
  for (int r = 0; r < rows; r++) {
    const float *xr = x + (size_t)r * cols;
    int arg = 0;
    for (int c = 1; c < cols; c++)
      if (xr[c] > xr[arg]) arg = c;
    double sum = 0;
    for (int c = 0; c < cols; c++) sum += exp((double)xr[c] - xr[arg]);
    w->loss[r] = (float)(log(sum) - ((double)xr[labels[r]] - xr[arg]));
    w->argmax[r] = arg;
    for (int c = 0; c < cols; c++)
      w->dlogits[(size_t)r * cols + c] =
          (float)((exp((double)xr[c] - xr[arg]) / sum - (c == labels[r])) * scale);
  }
}

/* Runs the op with dlogits aliasing logits (as the trainer does) and compares with the
 * reference; returns the number of wrong values. */
static size_t softmax_mismatches(dpt_device *d, int rows, int cols, const float *logits,
                                 const int32_t *labels, float scale)
{
  size_t n = (size_t)rows * cols;
  float *dl = malloc(n * sizeof *dl), *loss = malloc(rows * sizeof *loss);
  int32_t *arg = malloc(rows * sizeof *arg);
  softmax_want w = {malloc(n * sizeof(float)), malloc(rows * sizeof(float)),
                    malloc(rows * sizeof(int32_t))};
  CU_ASSERT_FATAL(dl && loss && arg && w.dlogits && w.loss && w.argmax);
  memcpy(dl, logits, n * sizeof *dl);
  ref_softmax_xent(rows, cols, logits, labels, scale, &w);
  dpt_err err = {0};
  CU_ASSERT_EQUAL(dpt_dev_softmax_xent(d, rows, cols, dl, labels, scale, dl, loss, arg, &err), 0);
  size_t bad = dpt_test_count_mismatch(dl, w.dlogits, n, 1e-6f, 1e-5f) +
               dpt_test_count_mismatch(loss, w.loss, (size_t)rows, 1e-5f, 1e-5f);
  for (int r = 0; r < rows; r++) bad += arg[r] != w.argmax[r];
  free(dl);
  free(loss);
  free(arg);
  free(w.dlogits);
  free(w.loss);
  free(w.argmax);
  return bad;
}

static void test_softmax_xent_random(void)
{
  dpt_device d;
  open_cpu(&d);
  dpt_rng rng;
  dpt_rng_seed(&rng, 8);
  enum { ROWS = 37, COLS = 10 };
  float logits[ROWS * COLS];
  int32_t labels[ROWS];
  ref_fill(&rng, logits, ROWS * COLS, -5.f, 5.f);
  for (int r = 0; r < ROWS; r++) labels[r] = (int32_t)dpt_rng_below(&rng, COLS);
  labels[0] = 0; /* both ends of the label range */
  labels[1] = COLS - 1;
  CU_ASSERT_EQUAL(softmax_mismatches(&d, ROWS, COLS, logits, labels, 1.f / ROWS), 0);
  CU_ASSERT_EQUAL(softmax_mismatches(&d, ROWS, COLS, logits, labels, 1.f), 0);
  CU_ASSERT_EQUAL(softmax_mismatches(&d, 1, 1, logits, labels, 1.f), 0); /* one class: loss 0 */
  dpt_device_close(&d);
}

static void test_softmax_xent_huge_logits_are_stable(void)
{
  dpt_device d;
  open_cpu(&d);
  enum { COLS = 4 };
  /* exp(1e4) overflows float: only a max-subtracting softmax stays finite. */
  const float logits[3 * COLS] = {1e4f,  1e4f - 1.f, -1e4f, 0.f,         /* label 3: loss ~1e4 */
                                  -1e4f, -1e4f,      -1e4f, -1e4f,       /* all equal: loss log 4 */
                                  -3e4f, 2e4f,       1e4f,  2e4f + 2.f}; /* label 0: loss ~5e4 */
  const int32_t labels[3] = {COLS - 1, 0, 0};
  CU_ASSERT_EQUAL(softmax_mismatches(&d, 3, COLS, logits, labels, 0.5f), 0);
  float dl[3 * COLS], loss[3];
  int32_t arg[3];
  dpt_err err = {0};
  CU_ASSERT_EQUAL(dpt_dev_softmax_xent(&d, 3, COLS, logits, labels, 1.f, dl, loss, arg, &err), 0);
  for (int i = 0; i < 3 * COLS; i++) CU_ASSERT(isfinite(dl[i]));
  CU_ASSERT(fabsf(loss[1] - logf(4.f)) < 1e-6f);
  CU_ASSERT_EQUAL(arg[0], 0);
  CU_ASSERT_EQUAL(arg[2], 3);
  dpt_device_close(&d);
}

static void test_softmax_xent_rejects_bad_labels(void)
{
  dpt_device d;
  open_cpu(&d);
  float logits[4] = {0}, dl[4], loss[2];
  int32_t arg[2];
  const int32_t high[2] = {0, 2}, low[2] = {-1, 0};
  dpt_err err = {0};
  CU_ASSERT_EQUAL(dpt_dev_softmax_xent(&d, 2, 2, logits, high, 1.f, dl, loss, arg, &err),
                  DPT_EINTERNAL);
  CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "label 2 of row 1 outside [0, 2)"));
  dpt_err_clear(&err);
  CU_ASSERT_EQUAL(dpt_dev_softmax_xent(&d, 2, 2, logits, low, 1.f, dl, loss, arg, &err),
                  DPT_EINTERNAL);
  dpt_err_clear(&err);
  CU_ASSERT_EQUAL(dpt_dev_softmax_xent(&d, 2, 0, logits, low, 1.f, dl, loss, arg, &err),
                  DPT_EINTERNAL);
  CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "2 rows of no classes"));
  dpt_device_close(&d);
}

/* --- memory ----------------------------------------------------------------------------------- */

static void test_memory_round_trip(void)
{
  dpt_device d;
  open_cpu(&d);
  dpt_err err = {0};
  float src[25], back[25];
  for (int i = 0; i < 25; i++) src[i] = (float)i;
  void *dev1, *dev2, *host;
  CU_ASSERT_EQUAL_FATAL(dpt_dev_alloc(&d, sizeof src, &dev1, &err), 0);
  CU_ASSERT_EQUAL_FATAL(dpt_dev_alloc(&d, sizeof src, &dev2, &err), 0);
  CU_ASSERT_EQUAL_FATAL(dpt_dev_host_alloc(&d, 1, &host, &err), 0);
  CU_ASSERT_EQUAL((uintptr_t)dev1 % 64, 0);
  CU_ASSERT_EQUAL(dpt_dev_copy_h2d(&d, dev1, src, sizeof src, &err), 0);
  CU_ASSERT_EQUAL(dpt_dev_copy_d2d(&d, dev2, dev1, sizeof src, &err), 0);
  CU_ASSERT_EQUAL(dpt_dev_zero(&d, dev1, sizeof src, &err), 0);
  CU_ASSERT_EQUAL(dpt_dev_copy_d2h(&d, back, dev2, sizeof back, &err), 0);
  CU_ASSERT_EQUAL(dpt_dev_sync(&d, &err), 0);
  CU_ASSERT_EQUAL(memcmp(back, src, sizeof src), 0);
  CU_ASSERT_EQUAL(dpt_dev_copy_d2h(&d, back, dev1, sizeof back, &err), 0);
  for (int i = 0; i < 25; i++) CU_ASSERT_EQUAL(back[i], 0.f);
  CU_ASSERT_EQUAL(dpt_dev_copy_h2d(&d, NULL, src, 4, &err), DPT_EINTERNAL);
  CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "cpu copy_h2d: buffer argument 1 of 2 is NULL"));
  dpt_err_clear(&err);
  void *too_big;
  CU_ASSERT_EQUAL(dpt_dev_alloc(&d, SIZE_MAX, &too_big, &err), DPT_ENOMEM);
  CU_ASSERT_PTR_NULL(too_big);
  dpt_dev_free(&d, dev1);
  dpt_dev_free(&d, dev2);
  dpt_dev_host_free(&d, host);
  dpt_device_close(&d);
}

/* --- registry --------------------------------------------------------------------------------- */

static void test_registry_answers_here(void)
{
  dpt_device d;
  dpt_err err = {0};
  CU_ASSERT_EQUAL(dpt_device_open(DPT_DEVICE_CPU, -1, 0, &d, &err), DPT_EINPUT);
  dpt_err_clear(&err);
  CU_ASSERT_EQUAL(dpt_device_open(DPT_DEVICE_CPU, 0, -2, &d, &err), DPT_EINPUT);
  dpt_err_clear(&err);
  CU_ASSERT_EQUAL_FATAL(dpt_device_open(DPT_DEVICE_CPU, 3, 0, &d, &err), 0);
  CU_ASSERT_STRING_EQUAL(d.vt->name, "cpu");
  CU_ASSERT_EQUAL(d.index, 3);
  dpt_device_close(&d);
  CU_ASSERT_PTR_NULL(d.vt);

  const char *summary = dpt_backends_summary();
  printf("\n  backends: %s\n", summary);
  CU_ASSERT_PTR_NOT_NULL(strstr(summary, "cpu (OpenBLAS 0."));
  CU_ASSERT_PTR_NOT_NULL(strstr(summary, "; cuda"));
  CU_ASSERT_PTR_NOT_NULL(strstr(summary, "; nccl"));
  CU_ASSERT_PTR_NULL(strstr(summary, " 1 threads"));

  /* Must answer, not crash, on a machine without a driver or GPU; then opening one fails. */
  int count = -1;
  dpt_err why = {0};
  CU_ASSERT_EQUAL(dpt_cuda_device_count(&count, &why), DPT_OK);
  CU_ASSERT(count >= 0);
  printf("  cuda devices: %d%s%s\n", count, count ? "" : ": ", count ? "" : why.msg);
  if (count == 0) {
    CU_ASSERT(why.msg[0] != '\0');
    dpt_err_clear(&err);
    CU_ASSERT_NOT_EQUAL(dpt_device_open(DPT_DEVICE_CUDA, 0, 0, &d, &err), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "cuda"));
    CU_ASSERT_PTR_NULL(d.vt);
  }
}

static void test_has_nonfinite(void)
{
  dpt_device cpu;
  dpt_err err = {0};
  CU_ASSERT_FATAL(dpt_device_open(DPT_DEVICE_CPU, 0, 1, &cpu, &err) == 0);
  ref_check_has_nonfinite(&cpu);
  dpt_device_close(&cpu);
}

int dpt_test_register(void)
{
  static const dpt_test_case blas[] = {
      DPT_TEST(test_gemm_all_transposes_and_shapes), DPT_TEST(test_gemm_split_over_threads),
      DPT_TEST(test_gemm_rejects_bad_arguments),
      DPT_TEST(test_col_sum), DPT_TEST(test_col_sum_empty_and_bad), DPT_TEST_END};
  static const dpt_test_case elementwise[] = {DPT_TEST(test_bias_act), DPT_TEST(test_relu_bwd),
                                              DPT_TEST(test_sgd_step_hand_computed),
                                              DPT_TEST(test_sgd_step_skip_votes),
                                              DPT_TEST(test_add), DPT_TEST(test_has_nonfinite), DPT_TEST_END};
  static const dpt_test_case softmax[] = {
      DPT_TEST(test_softmax_xent_random), DPT_TEST(test_softmax_xent_huge_logits_are_stable),
      DPT_TEST(test_softmax_xent_rejects_bad_labels), DPT_TEST_END};
  static const dpt_test_case device[] = {DPT_TEST(test_memory_round_trip),
                                         DPT_TEST(test_registry_answers_here), DPT_TEST_END};
  int rc = dpt_test_add_suite("cpu_blas", blas);
  if (!rc) rc = dpt_test_add_suite("cpu_elementwise", elementwise);
  if (!rc) rc = dpt_test_add_suite("cpu_softmax_xent", softmax);
  return rc ? rc : dpt_test_add_suite("cpu_device", device);
}
