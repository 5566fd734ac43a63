#include "kernels/gemm_map.h"

static int max1(int x) { return x > 1 ? x : 1; }

/* ld of the row-major matrix `name` as stored (rows x cols, before any transpose). */
static int check_ld(const char *where, const char *name, int ld, int rows, int cols, bool trans,
                    dpt_err *err)
{
  if (ld >= max1(cols)) return DPT_OK;
  return dpt_err_set(err, DPT_EINTERNAL,
                     "%s: leading dimension of %s is %d, below its row length %d (%s is %d x %d%s)",
                     where, name, ld, max1(cols), name, rows, cols, trans ? ", transposed" : "");
}

int dpt_gemm_check(const char *where, bool ta, bool tb, int m, int n, int k, int lda, int ldb,
                   int ldc, dpt_err *err)
{
  if (m < 0 || n < 0 || k < 0)
    return dpt_err_set(err, DPT_EINTERNAL, "%s: negative size m=%d n=%d k=%d", where, m, n, k);
  /* Stored shapes: A is m x k (k x m when ta), B is k x n (n x k when tb), C is m x n. */
  int rc = check_ld(where, "A", lda, ta ? k : m, ta ? m : k, ta, err);
  if (!rc) rc = check_ld(where, "B", ldb, tb ? n : k, tb ? k : n, tb, err);
  if (!rc) rc = check_ld(where, "C", ldc, m, n, false, err);
  return rc;
}

dpt_gemm_colmajor dpt_gemm_map(bool ta, bool tb, int m, int n, int k, int lda, int ldb, int ldc)
{
  return (dpt_gemm_colmajor){.transa = tb,
                             .transb = ta,
                             .m = n,
                             .n = m,
                             .k = k,
                             .a_is_b = true,
                             .lda = ldb,
                             .ldb = lda,
                             .ldc = ldc};
}
