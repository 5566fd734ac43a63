/* kernels/gemm_map: the row-major to column-major GEMM mapping the CUDA backend hands to cuBLAS,
 * checked on the CPU by feeding it to cblas_sgemm(CblasColMajor, ...), and the leading-dimension
 * check both backends share. */
#include <cblas.h>
#include <string.h>

#include "kernels/gemm_map.h"
#include "tests/lib/test_kernels_ref.h"
#include "tests/lib/test_util.h"

static CBLAS_TRANSPOSE cblas_op(bool trans) { return trans ? CblasTrans : CblasNoTrans; }

/* The row-major request, mapped, through column-major BLAS. */
static int run_mapped(void *arg, const ref_gemm_data *d, float alpha, float beta, float *c)
{
  dpt_err err = {0};
  int rc = dpt_gemm_check("test", d->ta, d->tb, d->m, d->n, d->k, d->lda, d->ldb, d->ldc, &err);
  if (rc) return rc;
  dpt_gemm_colmajor g = dpt_gemm_map(d->ta, d->tb, d->m, d->n, d->k, d->lda, d->ldb, d->ldc);
  const float *first = g.a_is_b ? d->b : d->a, *second = g.a_is_b ? d->a : d->b;
  if (g.m > 0 && g.n > 0) /* cuBLAS's and BLAS's quick return; the backends skip the call */
    cblas_sgemm(CblasColMajor, cblas_op(g.transa), cblas_op(g.transb), g.m, g.n, g.k, alpha, first,
                g.lda, second, g.ldb, beta, c, g.ldc);
  return 0;
}

static void test_map_matches_row_major_reference(void)
{
  const float scales[][2] = {{1.25f, -0.5f}, {1.f, 0.f}};
  ref_gemm_sweep(11, scales, 2, run_mapped, NULL, NULL);
}

static void test_map_swaps_operands_and_sizes(void)
{
  dpt_gemm_colmajor g = dpt_gemm_map(true, false, 2, 3, 4, 5, 6, 7);
  CU_ASSERT(g.a_is_b);
  CU_ASSERT_EQUAL(g.transa, false); /* the caller's tb */
  CU_ASSERT_EQUAL(g.transb, true);  /* the caller's ta */
  CU_ASSERT_EQUAL(g.m, 3);
  CU_ASSERT_EQUAL(g.n, 2);
  CU_ASSERT_EQUAL(g.k, 4);
  CU_ASSERT_EQUAL(g.lda, 6);
  CU_ASSERT_EQUAL(g.ldb, 5);
  CU_ASSERT_EQUAL(g.ldc, 7);
}

static int check(bool ta, bool tb, int m, int n, int k, int lda, int ldb, int ldc, dpt_err *err)
{
  dpt_err_clear(err);
  return dpt_gemm_check("cpu gemm", ta, tb, m, n, k, lda, ldb, ldc, err);
}

static void test_check_leading_dimension_minimums(void)
{
  dpt_err err;
  /* A is m x k (k x m when transposed), B is k x n (n x k), C is m x n; minimum = row length. */
  CU_ASSERT_EQUAL(check(false, false, 2, 3, 4, 4, 3, 3, &err), 0);
  CU_ASSERT_EQUAL(check(true, true, 2, 3, 4, 2, 4, 3, &err), 0);
  CU_ASSERT_EQUAL(check(false, false, 2, 3, 4, 3, 3, 3, &err), DPT_EINTERNAL);
  CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "cpu gemm: leading dimension of A is 3"));
  CU_ASSERT_EQUAL(check(true, false, 2, 3, 4, 1, 3, 3, &err), DPT_EINTERNAL);
  CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "of A is 1, below its row length 2"));
  CU_ASSERT_EQUAL(check(false, false, 2, 3, 4, 4, 2, 3, &err), DPT_EINTERNAL);
  CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "of B is 2"));
  CU_ASSERT_EQUAL(check(false, true, 2, 3, 4, 4, 3, 3, &err), DPT_EINTERNAL);
  CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "of B is 3, below its row length 4"));
  CU_ASSERT_EQUAL(check(false, false, 2, 3, 4, 4, 3, 2, &err), DPT_EINTERNAL);
  CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "of C is 2"));
  /* Empty rows still need ld >= 1, as BLAS does. */
  CU_ASSERT_EQUAL(check(false, false, 2, 3, 0, 1, 3, 3, &err), 0);
  CU_ASSERT_EQUAL(check(false, false, 2, 3, 0, 0, 3, 3, &err), DPT_EINTERNAL);
}

static void test_check_negative_sizes(void)
{
  dpt_err err;
  CU_ASSERT_EQUAL(check(false, false, -1, 3, 4, 4, 3, 3, &err), DPT_EINTERNAL);
  CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "negative size m=-1"));
  CU_ASSERT_EQUAL(check(false, false, 2, -3, 4, 4, 3, 3, &err), DPT_EINTERNAL);
  CU_ASSERT_EQUAL(check(false, false, 2, 3, -4, 4, 3, 3, &err), DPT_EINTERNAL);
}

int dpt_test_register(void)
{
  static const dpt_test_case map[] = {DPT_TEST(test_map_matches_row_major_reference),
                                      DPT_TEST(test_map_swaps_operands_and_sizes),
                                      DPT_TEST(test_check_leading_dimension_minimums),
                                      DPT_TEST(test_check_negative_sizes), DPT_TEST_END};
  return dpt_test_add_suite("gemm_map", map);
}
