/* Row-major GEMM requests mapped onto column-major BLAS (cuBLAS), plus the one check of sizes and
 * leading dimensions that every backend's gemm runs. Private to kernels/. */
#ifndef DPT_KERNELS_GEMM_MAP_H
#define DPT_KERNELS_GEMM_MAP_H

#include <stdbool.h>

#include "dpt/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A column-major sgemm call: C = op(first) * op(second), where first is the caller's B when
 * a_is_b (always, today) and lda/ldb are the leading dimensions of first and second. */
typedef struct dpt_gemm_colmajor {
  bool transa, transb;
  int m, n, k;
  bool a_is_b;
  int lda, ldb, ldc;
} dpt_gemm_colmajor;

/* 0, or DPT_EINTERNAL "<where>: ..." when m, n or k is negative or a leading dimension is below
 * the row length of its row-major matrix (at least 1, as BLAS requires). */
int dpt_gemm_check(const char *where, bool ta, bool tb, int m, int n, int k, int lda, int ldb,
                   int ldc, dpt_err *err);

/* Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T, and a row-major matrix read as
 * column-major with the same leading dimension is its transpose: so swap the operands and m with
 * n, and keep each operand's transpose flag. Pure; run dpt_gemm_check first. */
dpt_gemm_colmajor dpt_gemm_map(bool ta, bool tb, int m, int n, int k, int lda, int ldb, int ldc);

#ifdef __cplusplus
}
#endif

#endif
