/* The CUDA backend's kernel launches: each queues one grid-stride kernel around
 * a kn_ body (kernels/kn_math.h) on a stream and returns the launch's error
 * (cudaSuccess, or what cudaGetLastError said). n = 0 (rows = 0) queues
 * nothing. Pointers are device pointers. cuda_kernels.cu implements them for a
 * GPU; under the emulated device (cmake -DDPT_CUDA_EMU=ON) cuda_kernels_emu.c
 * queues the same bodies as loops on the emulated stream. Private to kernels/.
 */
#ifndef DPT_KERNELS_CUDA_KERNELS_H
#define DPT_KERNELS_CUDA_KERNELS_H

#include <cuda_runtime_api.h>
#include <stddef.h>
#include <stdint.h>

#include "dpt/ledger.h"
#include "dpt/device.h"

#ifdef __cplusplus
extern "C" {
#endif

/* y[i] = v */
cudaError_t dpt_launch_fill(cudaStream_t s, size_t n, float v, float *y);
/* y[i] = kn_bias_act(y[i], bias[i % cols], relu) */
cudaError_t dpt_launch_bias_act(cudaStream_t s, size_t n, int cols, const float *bias, int relu,
                                float *y);
cudaError_t dpt_launch_relu_bwd(cudaStream_t s, size_t n, const float *y, const float *dy,
                                float *dx);
/* One thread per row. */
cudaError_t dpt_launch_softmax_xent(cudaStream_t s, int rows, int cols, const float *logits,
                                    const int32_t *labels, float grad_scale, float *dlogits,
                                    float *row_loss, int32_t *row_argmax);
/* skip_votes (device memory, or NULL) is read by the kernel: a skipped step
 * changes nothing. */
cudaError_t dpt_launch_sgd_step(cudaStream_t s, size_t n, float *params, const float *grads,
                                float *velocity, float lr, float momentum, float weight_decay,
                                const float *skip_votes);
cudaError_t dpt_launch_add(cudaStream_t s, size_t n, const float *x, float *acc);
/* *flag = 1 when some x[i] is NaN or Inf; *flag is left as it is otherwise. */
cudaError_t dpt_launch_flag_nonfinite(cudaStream_t s, size_t n, const float *x, int *flag);
/* The image ops (dpt_image), one thread per pixel of their kn_ bodies: im2col
 * and maxpool per output pixel, col2im per input pixel, maxpool_bwd per output
 * pixel into a dx the caller zeroed. */
cudaError_t dpt_launch_im2col(cudaStream_t s, dpt_image g, const float *x, float *cols);
cudaError_t dpt_launch_col2im(cudaStream_t s, dpt_image g, const float *dcols, float *dx);
cudaError_t dpt_launch_maxpool(cudaStream_t s, dpt_image g, const float *x, float *y);
cudaError_t dpt_launch_maxpool_bwd(cudaStream_t s, dpt_image g, bool relu, const float *x,
                                   const float *dy, float *dx);

/* kn_vote_at over grads[0..n) into tally (zeroed before): the NaN check as this worker's vote. */
cudaError_t dpt_launch_vote(cudaStream_t s, size_t n, const float *grads, const float *gate,
                            float *tally);
/* dpt_launch_sgd_step gated by tally[DPT_TALLY_SKIP], and kn_ledger_commit of *step by one of its
 * threads. */
cudaError_t dpt_launch_sgd_step_commit(cudaStream_t s, size_t n, float *params, const float *grads,
                                       float *velocity, float lr, float momentum,
                                       float weight_decay, const float *tally,
                                       const dpt_ledger_step *step);
/* kn_ledger_commit, one thread. */
cudaError_t dpt_launch_ledger_commit(cudaStream_t s, dpt_ledger *ledger, const float *tally,
                                     int rows, const float *row_loss, const int32_t *row_argmax,
                                     const int32_t *labels, double step, int max_skips,
                                     int nonfinite_stop);

#ifdef __cplusplus
}
#endif

#endif
