/* Naive references and random data shared by the kernels/ tests (test_kernels, test_gemm_map,
 * test_cuda_ops). */
#ifndef DPT_TESTS_LIB_TEST_KERNELS_REF_H
#define DPT_TESTS_LIB_TEST_KERNELS_REF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dpt/device.h"
#include "dpt/rng.h"

/* Values uniform in [lo, hi). */
void ref_fill(dpt_rng *rng, float *x, size_t n, float lo, float hi);

/* Calls calloc for n floats and fills them uniformly in [-1, 1); aborts the test on failure. */
float *ref_random(dpt_rng *rng, size_t n);

/* c = alpha * op(a) * op(b) + beta * c, row-major, summed in double: the GEMM reference.
 * With beta = 0, c is not read. */
void ref_gemm(bool ta, bool tb, int m, int n, int k, float alpha, const float *a, int lda,
              const float *b, int ldb, float beta, float *c, int ldc);

/* One GEMM test shape: sizes and how much each leading dimension exceeds its minimum. */
typedef struct ref_gemm_case {
  int m, n, k, pad;
} ref_gemm_case;

/* Odd and degenerate shapes (a size of 1 or 0, padded leading dimensions); m = -1 ends them. */
extern const ref_gemm_case ref_gemm_cases[];

/* Column-sum shapes and scales, growing then reusing a backend's ones vector; rows = -1 ends
 * them. */
typedef struct ref_col_sum_case {
  int rows, cols;
  float alpha, beta;
} ref_col_sum_case;
extern const ref_col_sum_case ref_col_sum_cases[];

/* Buffers for one GEMM case, leading dimensions included: a and b random, c random too (so beta
 * matters) and c_ref its copy. With beta = 0, c and c_ref are NaN instead: BLAS does not read C
 * then, so garbage there must not leak out. */
typedef struct ref_gemm_data {
  bool ta, tb;
  int m, n, k, lda, ldb, ldc;
  size_t a_len, b_len, c_len;
  float *a, *b, *c, *c_ref;
} ref_gemm_data;

void ref_gemm_data_make(dpt_rng *rng, bool ta, bool tb, ref_gemm_case s, float beta,
                        ref_gemm_data *d);
void ref_gemm_data_free(ref_gemm_data *d);

/* Wrong elements of c against c_ref: tol + rel * |ref| inside the m x n result, and each row's
 * padding (up to ldc) must be bit for bit as it was. */
size_t ref_gemm_mismatches(const ref_gemm_data *d, float tol, float rel);

/* Computes d's GEMM with alpha and beta into c (d->c or d->c_ref, ldc d->ldc): 0 or a DPT_E*. */
typedef int (*ref_gemm_run)(void *arg, const ref_gemm_data *d, float alpha, float beta, float *c);

/* For every case of ref_gemm_cases, the four transpose pairs and each {alpha, beta} of scales:
 * makes the data, computes the expected c_ref with want (NULL: ref_gemm), c with run, and asserts
 * both returned 0 and c matches (tol 1e-4, rel 1e-5); prints the cases that do not. */
void ref_gemm_sweep(uint64_t seed, const float (*scales)[2], size_t nscales, ref_gemm_run run,
                    ref_gemm_run want, void *arg);

/* Checks dev's has_nonfinite on buffers copied to it: all finite, one NaN, +Inf or -Inf at the
 * first, a middle and the last element of a buffer longer than one CUDA grid pass, and n = 0. */
void ref_check_has_nonfinite(dpt_device *dev);

#endif
