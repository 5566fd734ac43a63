#include "tests/lib/test_kernels_ref.h"

#include "tests/lib/test_util.h"

#include <CUnit/CUnit.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ref_fill(dpt_rng *rng, float *x, size_t n, float lo, float hi)
{
  for (size_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * dpt_rng_uniform(rng);
}

float *ref_random(dpt_rng *rng, size_t n)
{
  float *x = calloc(n ? n : 1, sizeof *x);
  CU_ASSERT_PTR_NOT_NULL_FATAL(x);
  ref_fill(rng, x, n, -1.f, 1.f);
  return x;
}

void ref_gemm(bool ta, bool tb, int m, int n, int k, float alpha, const float *a, int lda,
              const float *b, int ldb, float beta, float *c, int ldc)
{
  for (int i = 0; i < m; i++)
    for (int j = 0; j < n; j++) {
      double s = 0;
      for (int p = 0; p < k; p++) {
        double av = ta ? a[(size_t)p * lda + i] : a[(size_t)i * lda + p];
        double bv = tb ? b[(size_t)j * ldb + p] : b[(size_t)p * ldb + j];
        s += av * bv;
      }
      float *cij = &c[(size_t)i * ldc + j];
      /* beta = 0: C is not read (BLAS semantics), so NaN there does not leak out */
      *cij = (float)(beta == 0.f ? alpha * s : alpha * s + (double)beta * *cij);
    }
}

const ref_gemm_case ref_gemm_cases[] = {
    {1, 1, 1, 0}, {7, 5, 3, 0},    {33, 17, 65, 0}, {1, 9, 4, 0}, {6, 1, 4, 0},
    {5, 8, 1, 0}, {7, 5, 3, 3},    {33, 17, 65, 5}, {1, 1, 1, 2}, {4, 3, 0, 1},
    {0, 5, 3, 0}, {64, 96, 40, 0}, {-1, 0, 0, 0},
};

const ref_col_sum_case ref_col_sum_cases[] = {
    {1, 1, 1.f, 0.f},      {7, 5, 0.5f, 2.f}, {256, 512, 1.f, 0.f},
    {1000, 10, -1.f, 1.f}, {3, 33, 1.f, 1.f}, {-1, 0, 0.f, 0.f},
};

void ref_gemm_data_make(dpt_rng *rng, bool ta, bool tb, ref_gemm_case s, float beta,
                        ref_gemm_data *d)
{
  int a_rows = ta ? s.k : s.m, a_cols = ta ? s.m : s.k;
  int b_rows = tb ? s.n : s.k, b_cols = tb ? s.k : s.n;
  *d = (ref_gemm_data){.ta = ta,
                       .tb = tb,
                       .m = s.m,
                       .n = s.n,
                       .k = s.k,
                       .lda = (a_cols > 1 ? a_cols : 1) + s.pad,
                       .ldb = (b_cols > 1 ? b_cols : 1) + s.pad,
                       .ldc = (s.n > 1 ? s.n : 1) + s.pad};
  d->a_len = (size_t)a_rows * (size_t)d->lda;
  d->b_len = (size_t)b_rows * (size_t)d->ldb;
  d->c_len = (size_t)s.m * (size_t)d->ldc;
  d->a = ref_random(rng, d->a_len);
  d->b = ref_random(rng, d->b_len);
  d->c = ref_random(rng, d->c_len);
  d->c_ref = ref_random(rng, d->c_len);
  if (beta == 0.f)
    for (size_t i = 0; i < d->c_len; i++) d->c[i] = NAN;
  memcpy(d->c_ref, d->c, d->c_len * sizeof *d->c);
}

size_t ref_gemm_mismatches(const ref_gemm_data *d, float tol, float rel)
{
  size_t bad = 0;
  for (int i = 0; i < d->m; i++) {
    const float *got = d->c + (size_t)i * d->ldc, *want = d->c_ref + (size_t)i * d->ldc;
    bad += dpt_test_count_mismatch(got, want, (size_t)d->n, tol, rel);
    bad += memcmp(got + d->n, want + d->n, (size_t)(d->ldc - d->n) * sizeof *got) != 0;
  }
  return bad;
}

void ref_gemm_data_free(ref_gemm_data *d)
{
  free(d->a);
  free(d->b);
  free(d->c);
  free(d->c_ref);
  memset(d, 0, sizeof *d);
}

static int run_ref_gemm(void *arg, const ref_gemm_data *d, float alpha, float beta, float *c)
{
  ref_gemm(d->ta, d->tb, d->m, d->n, d->k, alpha, d->a, d->lda, d->b, d->ldb, beta, c, d->ldc);
  return 0;
}

void ref_gemm_sweep(uint64_t seed, const float (*scales)[2], size_t nscales, ref_gemm_run run,
                    ref_gemm_run want, void *arg)
{
  dpt_rng rng;
  dpt_rng_seed(&rng, seed);
  for (const ref_gemm_case *s = ref_gemm_cases; s->m >= 0; s++)
    for (int t = 0; t < 4; t++)
      for (size_t i = 0; i < nscales; i++) {
        float alpha = scales[i][0], beta = scales[i][1];
        ref_gemm_data d;
        ref_gemm_data_make(&rng, t & 1, t & 2, *s, beta, &d);
        CU_ASSERT_EQUAL((want ? want : run_ref_gemm)(arg, &d, alpha, beta, d.c_ref), 0);
        CU_ASSERT_EQUAL(run(arg, &d, alpha, beta, d.c), 0);
        size_t bad = ref_gemm_mismatches(&d, 1e-4f, 1e-5f);
        if (bad)
          printf("\n  gemm ta=%d tb=%d %dx%dx%d pad %d alpha %g beta %g: %zu wrong\n", d.ta, d.tb,
                 d.m, d.n, d.k, s->pad, alpha, beta, bad);
        CU_ASSERT_EQUAL(bad, 0);
        ref_gemm_data_free(&d);
      }
}

/* has_nonfinite over n floats uploaded to dev; -1 when the op failed. */
static int nonfinite_on(dpt_device *dev, const float *host, size_t n)
{
  dpt_err err = {0};
  void *buf = NULL;
  bool found = false;
  int rc = dpt_dev_alloc(dev, n ? n * sizeof(float) : sizeof(float), &buf, &err);
  if (!rc && n) rc = dpt_dev_copy_h2d(dev, buf, host, n * sizeof(float), &err);
  if (!rc) rc = dpt_dev_has_nonfinite(dev, n, buf, &found, &err);
  dpt_dev_free(dev, buf);
  if (rc) fprintf(stderr, "\n  has_nonfinite: %s\n", err.msg);
  return rc ? -1 : found;
}

void ref_check_has_nonfinite(dpt_device *dev)
{
  enum { N = 1 << 21 };
  float *x = calloc(N, sizeof(float));
  CU_ASSERT_PTR_NOT_NULL_FATAL(x);
  for (size_t i = 0; i < N; i++) x[i] = (float)(i % 1000) - 500.f;
  x[7] = 3.0e38f; /* huge but finite */
  CU_ASSERT_EQUAL(nonfinite_on(dev, x, N), 0);
  CU_ASSERT_EQUAL(nonfinite_on(dev, x, 0), 0);
  const float bad[] = {NAN, INFINITY, -INFINITY};
  const size_t where[] = {0, N / 2 + 3, N - 1};
  for (int b = 0; b < 3; b++)
    for (int w = 0; w < 3; w++) {
      float saved = x[where[w]];
      x[where[w]] = bad[b];
      CU_ASSERT_EQUAL(nonfinite_on(dev, x, N), 1);
      x[where[w]] = saved;
    }
  free(x);
}
