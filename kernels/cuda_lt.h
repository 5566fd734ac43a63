/* A dense layer's three GEMMs with their element-wise work fused in by cuBLASLt epilogues
 * (docs/gpu.md): forward with bias and ReLU (keeping the ReLU's bit mask), the weight gradient
 * with the bias gradient, the input gradient with the ReLU's gradient from that mask. Row-major,
 * as every device op; the CUDA backend's linear_* ops. Private to kernels/. */
#ifndef DPT_KERNELS_CUDA_LT_H
#define DPT_KERNELS_CUDA_LT_H

#include <cuda_runtime_api.h>
#include <stdbool.h>
#include <stddef.h>

#include "dpt/status.h"

typedef struct cuda_lt cuda_lt;

/* Opens cuBLASLt for the current device with a workspace (the only allocation: none happens per
 * call), then tries each epilogue once on a small problem. *out NULL with DPT_OK: this GPU or
 * library lacks one of them, and the layers run unfused. */
int cuda_lt_open(cudaStream_t stream, cuda_lt **out, size_t *allocs, dpt_err *err);
void cuda_lt_close(cuda_lt *lt);

/* Bytes of the ReLU bit mask of a rows x cols output. */
size_t cuda_lt_mask_bytes(int rows, int cols);

int cuda_lt_linear_fwd(cuda_lt *lt, int rows, int in, int out, const float *x, const float *w,
                       const float *bias, bool relu, float *y, void *mask, dpt_err *err);
int cuda_lt_linear_bwd_weights(cuda_lt *lt, int rows, int in, int out, const float *d,
                               const float *x, float *gw, float *gb, dpt_err *err);
int cuda_lt_linear_bwd_data(cuda_lt *lt, int rows, int in, int out, const float *d,
                            const float *w, const void *mask, float *prev, dpt_err *err);

#endif
