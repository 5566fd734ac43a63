/* GPU parity: each CUDA op against the CPU backend on the same random data. Element-wise ops
 * must match bit for bit (same kn_ bodies, nvcc --fmad=false vs gcc -ffp-contract=off); GEMM and
 * column sums sum in another order, and softmax uses CUDA's expf/logf: those get a tolerance.
 * Where dpt_cuda_device_count finds no device (or the build has no CUDA) the suites are inactive,
 * so the program reports them as not run and exits 77: skipped, never passed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dpt/device.h"
#include "tests/lib/test_kernels_ref.h"
#include "tests/lib/test_util.h"

typedef struct pair {
  dpt_device cpu, gpu;
  dpt_err err;
} pair;

static void open_pair(pair *p)
{
  memset(p, 0, sizeof *p);
  int rc = dpt_device_open(DPT_DEVICE_CPU, 0, 1, &p->cpu, &p->err);
  if (!rc) rc = dpt_device_open(DPT_DEVICE_CUDA, 0, 0, &p->gpu, &p->err);
  if (rc) printf("\n  %s\n", p->err.msg);
  CU_ASSERT_EQUAL_FATAL(rc, 0);
}

static void close_pair(pair *p)
{
  dpt_device_close(&p->gpu);
  dpt_device_close(&p->cpu);
}

/* A device copy of bytes of host data (NULL data: uninitialized). */
static void *upload(pair *p, const void *data, size_t bytes)
{
  void *dev = NULL;
  CU_ASSERT_EQUAL_FATAL(dpt_dev_alloc(&p->gpu, bytes ? bytes : 1, &dev, &p->err), 0);
  if (data) CU_ASSERT_EQUAL_FATAL(dpt_dev_copy_h2d(&p->gpu, dev, data, bytes, &p->err), 0);
  return dev;
}

/* Copies back and frees the device buffer. */
static void download(pair *p, void *host, void *dev, size_t bytes)
{
  CU_ASSERT_EQUAL(dpt_dev_copy_d2h(&p->gpu, host, dev, bytes, &p->err), 0);
  dpt_dev_free(&p->gpu, dev);
}

/* --- cuBLAS ops ------------------------------------------------------------------------------- */

static int run_cpu_gemm(void *arg, const ref_gemm_data *g, float alpha, float beta, float *c)
{
  pair *p = arg;
  return dpt_dev_gemm(&p->cpu, g->ta, g->tb, g->m, g->n, g->k, alpha, g->a, g->lda, g->b, g->ldb,
                      beta, c, g->ldc, &p->err);
}

/* The same GEMM on device copies of the operands. */
static int run_gpu_gemm(void *arg, const ref_gemm_data *g, float alpha, float beta, float *c)
{
  pair *p = arg;
  float *a = upload(p, g->a, g->a_len * sizeof(float)),
        *b = upload(p, g->b, g->b_len * sizeof(float));
  float *dc = upload(p, c, g->c_len * sizeof(float));
  int rc = dpt_dev_gemm(&p->gpu, g->ta, g->tb, g->m, g->n, g->k, alpha, a, g->lda, b, g->ldb, beta,
                        dc, g->ldc, &p->err);
  download(p, c, dc, g->c_len * sizeof(float));
  dpt_dev_free(&p->gpu, a);
  dpt_dev_free(&p->gpu, b);
  return rc;
}

static void test_gemm_parity(void)
{
  pair p;
  open_pair(&p);
  const float scales[][2] = {{1.25f, -0.5f}, {1.f, 0.f}};
  ref_gemm_sweep(21, scales, 2, run_gpu_gemm, run_cpu_gemm, &p);
  close_pair(&p);
}

static void check_col_sum(pair *p, dpt_rng *rng, int rows, int cols, float alpha, float beta)
{
  size_t n = (size_t)rows * cols;
  float *x = ref_random(rng, n), *want = ref_random(rng, (size_t)cols);
  float *got = malloc((size_t)cols * sizeof *got);
  CU_ASSERT_PTR_NOT_NULL_FATAL(got);
  float *dx = upload(p, x, n * sizeof(float)), *dy = upload(p, want, (size_t)cols * sizeof(float));
  CU_ASSERT_EQUAL(dpt_dev_col_sum(&p->cpu, rows, cols, alpha, x, beta, want, &p->err), 0);
  CU_ASSERT_EQUAL(dpt_dev_col_sum(&p->gpu, rows, cols, alpha, dx, beta, dy, &p->err), 0);
  download(p, got, dy, (size_t)cols * sizeof(float));
  dpt_dev_free(&p->gpu, dx);
  CU_ASSERT_EQUAL(dpt_test_count_mismatch(got, want, (size_t)cols, 1e-4f, 1e-5f), 0);
  free(x);
  free(want);
  free(got);
}

static void test_col_sum_parity(void)
{
  pair p;
  open_pair(&p);
  dpt_rng rng;
  dpt_rng_seed(&rng, 22);
  for (const ref_col_sum_case *s = ref_col_sum_cases; s->rows >= 0; s++)
    check_col_sum(&p, &rng, s->rows, s->cols, s->alpha, s->beta);
  close_pair(&p);
}

/* --- element-wise: bit for bit ---------------------------------------------------------------- */

/* Enough elements for the grid-stride loop to go round (4096 blocks of 256 threads). */
enum { BIG = (1 << 20) + (1 << 19) + 3 };

static void test_bias_act_parity(void)
{
  pair p;
  open_pair(&p);
  dpt_rng rng;
  dpt_rng_seed(&rng, 23);
  const int shapes[][2] = {{13, 37}, {1, 1}, {BIG / 31, 31}};
  for (size_t s = 0; s < 3; s++)
    for (int relu = 0; relu < 2; relu++) {
      int rows = shapes[s][0], cols = shapes[s][1];
      size_t n = (size_t)rows * cols;
      float *bias = ref_random(&rng, (size_t)cols), *want = ref_random(&rng, n);
      float *got = malloc(n * sizeof *got);
      CU_ASSERT_PTR_NOT_NULL_FATAL(got);
      float *db = upload(&p, bias, (size_t)cols * sizeof(float)),
            *dy = upload(&p, want, n * sizeof(float));
      CU_ASSERT_EQUAL(dpt_dev_bias_act(&p.cpu, rows, cols, bias, relu, want, &p.err), 0);
      CU_ASSERT_EQUAL(dpt_dev_bias_act(&p.gpu, rows, cols, db, relu, dy, &p.err), 0);
      download(&p, got, dy, n * sizeof(float));
      dpt_dev_free(&p.gpu, db);
      CU_ASSERT_EQUAL(dpt_test_count_mismatch(got, want, n, 0.f, 0.f), 0);
      free(bias);
      free(want);
      free(got);
    }
  close_pair(&p);
}

/* One element-wise op on both backends: bufs[0..nbuf) hold n floats each on the host; run gets
 * them on the CPU and their device copies on the GPU, and afterwards every buffer must match bit
 * for bit. */
typedef int (*elementwise_run)(dpt_device *d, size_t n, float *const *bufs, dpt_err *err);

static void check_elementwise(pair *p, size_t n, int nbuf, float *const *host, elementwise_run run)
{
  float *dev[4];
  float *got = malloc(n * sizeof *got);
  CU_ASSERT_FATAL(got && nbuf <= 4);
  for (int i = 0; i < nbuf; i++) dev[i] = upload(p, host[i], n * sizeof(float));
  CU_ASSERT_EQUAL(run(&p->cpu, n, host, &p->err), 0);
  CU_ASSERT_EQUAL(run(&p->gpu, n, dev, &p->err), 0);
  for (int i = 0; i < nbuf; i++) {
    download(p, got, dev[i], n * sizeof(float));
    CU_ASSERT_EQUAL(dpt_test_count_mismatch(got, host[i], n, 0.f, 0.f), 0);
  }
  free(got);
}

/* dx aliases dy, as the trainer calls it. */
static int run_relu_bwd(dpt_device *d, size_t n, float *const *b, dpt_err *err)
{
  return dpt_dev_relu_bwd(d, n, b[0], b[1], b[1], err);
}

/* Three steps, so the velocity carries over. */
static int run_sgd_step(dpt_device *d, size_t n, float *const *b, dpt_err *err)
{
  int rc = 0;
  for (int step = 0; step < 3 && !rc; step++)
    rc = dpt_dev_sgd_step(d, n, b[0], b[1], b[2], 0.05f, 0.9f, 1e-4f, err);
  return rc;
}

static int run_add(dpt_device *d, size_t n, float *const *b, dpt_err *err)
{
  return dpt_dev_add(d, n, b[0], b[1], err);
}

static void test_elementwise_parity(void)
{
  pair p;
  open_pair(&p);
  dpt_rng rng;
  dpt_rng_seed(&rng, 24);
  float *b[3];
  for (int i = 0; i < 3; i++) b[i] = ref_random(&rng, BIG);
  for (size_t i = 0; i < BIG; i += 7) b[0][i] = 0.f; /* relu_bwd: exactly zero, no gradient */
  check_elementwise(&p, BIG, 2, b, run_relu_bwd);
  check_elementwise(&p, BIG, 3, b, run_sgd_step);
  check_elementwise(&p, BIG, 2, b, run_add);
  for (int i = 0; i < 3; i++) free(b[i]);
  close_pair(&p);
}

/* --- softmax cross-entropy: CUDA's expf/logf differ from glibc's by an ulp or two ------------- */

static void test_softmax_xent_parity(void)
{
  pair p;
  open_pair(&p);
  dpt_rng rng;
  dpt_rng_seed(&rng, 27);
  enum { ROWS = 1000, COLS = 10, N = ROWS * COLS };
  float *logits = ref_random(&rng, N);
  int32_t labels[ROWS], arg_cpu[ROWS], arg_gpu[ROWS];
  float loss_cpu[ROWS], loss_gpu[ROWS];
  float *dl_gpu = malloc(N * sizeof(float));
  CU_ASSERT_PTR_NOT_NULL_FATAL(dl_gpu);
  for (int i = 0; i < N; i++) logits[i] *= 8.f;
  for (int c = 0; c < COLS; c++) logits[c] = c % 2 ? 1e4f : -1e4f; /* stability: row 0 */
  for (int r = 0; r < ROWS; r++) labels[r] = (int32_t)dpt_rng_below(&rng, COLS);
  labels[0] = 0;
  labels[1] = COLS - 1;
  float *dlog = upload(&p, logits, N * sizeof(float));
  int32_t *dlab = upload(&p, labels, sizeof labels);
  float *dloss = upload(&p, NULL, sizeof loss_gpu);
  int32_t *darg = upload(&p, NULL, sizeof arg_gpu);
  /* dlogits aliases logits on both backends. */
  CU_ASSERT_EQUAL(dpt_dev_softmax_xent(&p.cpu, ROWS, COLS, logits, labels, 1.f / ROWS, logits,
                                       loss_cpu, arg_cpu, &p.err),
                  0);
  CU_ASSERT_EQUAL(
      dpt_dev_softmax_xent(&p.gpu, ROWS, COLS, dlog, dlab, 1.f / ROWS, dlog, dloss, darg, &p.err),
      0);
  download(&p, dl_gpu, dlog, N * sizeof(float));
  download(&p, loss_gpu, dloss, sizeof loss_gpu);
  download(&p, arg_gpu, darg, sizeof arg_gpu);
  dpt_dev_free(&p.gpu, dlab);
  CU_ASSERT_EQUAL(dpt_test_count_mismatch(dl_gpu, logits, N, 1e-7f, 1e-5f), 0);
  CU_ASSERT_EQUAL(dpt_test_count_mismatch(loss_gpu, loss_cpu, ROWS, 1e-5f, 1e-5f), 0);
  CU_ASSERT_EQUAL(memcmp(arg_gpu, arg_cpu, sizeof arg_cpu), 0);
  CU_ASSERT(isfinite(loss_gpu[0]));
  free(logits);
  free(dl_gpu);
  close_pair(&p);
}

/* --- memory and errors ------------------------------------------------------------------------ */

static void test_memory_round_trip(void)
{
  pair p;
  open_pair(&p);
  enum { N = 1000 };
  float *pinned = NULL;
  CU_ASSERT_EQUAL_FATAL(dpt_dev_host_alloc(&p.gpu, N * sizeof(float), (void **)&pinned, &p.err), 0);
  for (int i = 0; i < N; i++) pinned[i] = (float)i;
  float *a = upload(&p, pinned, N * sizeof(float)), *b = upload(&p, NULL, N * sizeof(float));
  CU_ASSERT_EQUAL(dpt_dev_copy_d2d(&p.gpu, b, a, N * sizeof(float), &p.err), 0);
  CU_ASSERT_EQUAL(dpt_dev_zero(&p.gpu, a, N * sizeof(float), &p.err), 0);
  CU_ASSERT_EQUAL(dpt_dev_sync(&p.gpu, &p.err), 0);
  memset(pinned, 0xff, N * sizeof(float));
  download(&p, pinned, b, N * sizeof(float));
  size_t bad = 0;
  for (int i = 0; i < N; i++) bad += pinned[i] != (float)i;
  download(&p, pinned, a, N * sizeof(float));
  for (int i = 0; i < N; i++) bad += pinned[i] != 0.f;
  CU_ASSERT_EQUAL(bad, 0);
  dpt_dev_host_free(&p.gpu, pinned);
  close_pair(&p);
}

static void test_errors_are_reported(void)
{
  pair p;
  open_pair(&p);
  float *a = upload(&p, NULL, 64 * sizeof(float));
  dpt_err err = {0};
  CU_ASSERT_EQUAL(dpt_dev_gemm(&p.gpu, false, false, 2, 3, 4, 1.f, a, 3, a, 3, 0.f, a, 3, &err),
                  DPT_EINTERNAL);
  CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "cuda gemm: leading dimension of A is 3"));
  dpt_err_clear(&err);
  void *huge = NULL;
  CU_ASSERT_EQUAL(dpt_dev_alloc(&p.gpu, (size_t)1 << 60, &huge, &err), DPT_EDEVICE);
  printf("\n  expected: %s\n", err.msg);
  CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "cudaMalloc"));
  dpt_err_clear(&err);
  /* The failed allocation left the device usable. */
  CU_ASSERT_EQUAL(dpt_dev_zero(&p.gpu, a, 64 * sizeof(float), &err), 0);
  CU_ASSERT_EQUAL(dpt_dev_sync(&p.gpu, &err), 0);
  dpt_device d;
  CU_ASSERT_EQUAL(dpt_device_open(DPT_DEVICE_CUDA, 1 << 20, 0, &d, &err), DPT_EINPUT);
  dpt_dev_free(&p.gpu, a);
  close_pair(&p);
}

static void test_has_nonfinite(void)
{
  pair p;
  open_pair(&p);
  ref_check_has_nonfinite(&p.gpu);
  close_pair(&p);
}

int dpt_test_register(void)
{
  static const dpt_test_case blas[] = {DPT_TEST(test_gemm_parity), DPT_TEST(test_col_sum_parity),
                                       DPT_TEST_END};
  static const dpt_test_case elementwise[] = {DPT_TEST(test_bias_act_parity),
                                              DPT_TEST(test_elementwise_parity),
                                              DPT_TEST(test_softmax_xent_parity),
                                              DPT_TEST(test_has_nonfinite), DPT_TEST_END};
  static const dpt_test_case device[] = {DPT_TEST(test_memory_round_trip),
                                         DPT_TEST(test_errors_are_reported), DPT_TEST_END};
  static const char *const suites[] = {"cuda_blas_parity", "cuda_elementwise_parity",
                                       "cuda_device"};
  int rc = dpt_test_add_suite(suites[0], blas);
  if (!rc) rc = dpt_test_add_suite(suites[1], elementwise);
  if (!rc) rc = dpt_test_add_suite(suites[2], device);
  if (rc) return rc;

  int count = 0;
  dpt_err why = {0};
  if (dpt_cuda_device_count(&count, &why) == DPT_OK && count > 0) return CUE_SUCCESS;
  printf("test_cuda_ops: skipped: no CUDA device here (%s)\n",
         why.msg[0] ? why.msg
         : why.code ? dpt_code_name(why.code)
                    : "unknown reason");
  for (size_t i = 0; i < sizeof suites / sizeof suites[0]; i++)
    CU_set_suite_active(CU_get_suite(suites[i]), CU_FALSE);
  return CUE_SUCCESS;
}
