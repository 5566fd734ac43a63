/* Cheap argument checks every backend runs before an op: negative sizes and NULL buffers where
 * the op would touch memory. One function per op, shared by the CPU and CUDA backends. A failure
 * is a caller's bug, so the code is DPT_EINTERNAL and the message starts with `where`
 * ("cpu add"). They read no buffer contents: on the CUDA backend those live on the device. */
#ifndef DPT_KERNELS_OP_CHECK_H
#define DPT_KERNELS_OP_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dpt/device.h"
#include "dpt/status.h"

#ifdef __cplusplus
extern "C" {
#endif

int dpt_check_alloc(const char *where, void **out, dpt_err *err);
int dpt_check_copy(const char *where, size_t bytes, const void *dst, const void *src, dpt_err *err);
int dpt_check_zero(const char *where, size_t bytes, const void *p, dpt_err *err);
int dpt_check_gemm(const char *where, bool ta, bool tb, int m, int n, int k, const float *a,
                   int lda, const float *b, int ldb, const float *c, int ldc, dpt_err *err);
int dpt_check_col_sum(const char *where, int rows, int cols, const float *x, const float *y,
                      dpt_err *err);
int dpt_check_bias_act(const char *where, int rows, int cols, const float *bias, const float *y,
                       dpt_err *err);
int dpt_check_relu_bwd(const char *where, size_t n, const float *y, const float *dy,
                       const float *dx, dpt_err *err);
int dpt_check_softmax_xent(const char *where, int rows, int cols, const float *logits,
                           const int32_t *labels, const float *dlogits, const float *row_loss,
                           const int32_t *row_argmax, dpt_err *err);
int dpt_check_sgd_step(const char *where, size_t n, const float *params, const float *grads,
                       const float *velocity, dpt_err *err);
int dpt_check_add(const char *where, size_t n, const float *x, const float *acc, dpt_err *err);
int dpt_check_has_nonfinite(const char *where, size_t n, const float *x, const bool *out,
                            dpt_err *err);
/* The conv and pooling ops' geometry (pool: the window fits the image) and their two or three
 * buffers (the third may be NULL: two-buffer ops). */
int dpt_check_image(const char *where, dpt_image g, bool pool, const float *a, const float *b,
                    const float *c, dpt_err *err);

#ifdef __cplusplus
}
#endif

#endif
