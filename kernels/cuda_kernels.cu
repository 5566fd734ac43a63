/* The CUDA kernels (kernels/cuda_kernels.h): grid-stride loops around the kn_
 * bodies the CPU backend runs (kernels/kn_math.h), built with --fmad=false so
 * they round as the CPU does. Only these launch lines are GPU-only: the host
 * side of the backend is device_cuda.c. */
#include <cuda_runtime.h>

#include "kernels/cuda_kernels.h"
#include "kernels/kn_ledger.h"
#include "kernels/kn_math.h"

namespace {

constexpr unsigned kThreads = 256;
constexpr size_t kMaxBlocks = 4096; /* beyond this, each thread loops: launch size stays small */

template <typename Op> __global__ void each_index(size_t n, Op op)
{
  size_t stride = (size_t)gridDim.x * blockDim.x;
  for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) op(i);
}

/* op(i) for i in [0, n), grid-stride. */
template <typename Op> cudaError_t launch_each(cudaStream_t s, size_t n, Op op)
{
  if (n == 0) return cudaSuccess;
  size_t blocks = (n + kThreads - 1) / kThreads;
  if (blocks > kMaxBlocks) blocks = kMaxBlocks;
  each_index<<<(unsigned)blocks, kThreads, 0, s>>>(n, op);
  return cudaGetLastError();
}

/* One functor per op: captures the arguments, calls the shared body. */
struct fill_op {
  float v;
  float *y;
  __device__ void operator()(size_t i) const { kn_fill_at(i, v, y); }
};

struct bias_act_op {
  int cols;
  const float *bias;
  int relu;
  float *y;
  __device__ void operator()(size_t i) const { kn_bias_act_at(i, cols, bias, relu, y); }
};

struct relu_bwd_op {
  const float *y, *dy;
  float *dx;
  __device__ void operator()(size_t i) const { kn_relu_bwd_at(i, y, dy, dx); }
};

/* One thread per row: rows are short (the class count), so a row needs no
 * cooperation. */
struct softmax_xent_op {
  int cols;
  const float *logits;
  const int32_t *labels;
  float grad_scale;
  float *dlogits, *row_loss;
  int32_t *row_argmax;
  __device__ void operator()(size_t r) const
  {
    kn_softmax_xent_row((int)r, cols, logits, labels, grad_scale, dlogits, row_loss, row_argmax);
  }
};

/* skip_votes (device memory, or NULL) is read by every thread: a skipped step
 * leaves all as is. */
struct sgd_step_op {
  float *params;
  const float *grads;
  float *velocity;
  float lr, momentum, weight_decay;
  const float *skip_votes;
  __device__ void operator()(size_t i) const
  {
    if (skip_votes && kn_step_skipped(*skip_votes)) return;
    kn_sgd_step_at(i, params, grads, velocity, lr, momentum, weight_decay);
  }
};

struct add_op {
  const float *x;
  float *acc;
  __device__ void operator()(size_t i) const { kn_add_at(i, x, acc); }
};

/* Threads that find a NaN or Inf all store the same 1: a flag, not a reduction.
 */
struct nonfinite_op {
  const float *x;
  int *flag;
  __device__ void operator()(size_t i) const
  {
    if (kn_nonfinite_at(i, x)) *flag = 1;
  }
};

struct vote_op {
  const float *grads, *gate;
  float *tally;
  __device__ void operator()(size_t i) const { kn_vote_at(i, grads, gate, tally); }
};

__global__ void ledger_commit_kernel(dpt_ledger *ledger, const float *tally, int rows,
                                     const float *row_loss, const int32_t *row_argmax,
                                     const int32_t *labels, double step, int max_skips,
                                     int nonfinite_stop)
{
  kn_ledger_commit(ledger, tally, rows, row_loss, row_argmax, labels, step, max_skips,
                   nonfinite_stop);
}

/* The step's SGD, with the ledger's commit in the first thread: they read the same tally and
 * write apart. */
__global__ void sgd_step_commit_kernel(size_t n, sgd_step_op sgd, const float *tally,
                                       dpt_ledger_step st)
{
  size_t stride = (size_t)gridDim.x * blockDim.x;
  size_t first = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (first == 0)
    kn_ledger_commit(st.ledger, tally, st.rows, st.row_loss, st.row_argmax, st.labels,
                     (double)st.step, st.max_skips, st.nonfinite_stop ? 1 : 0);
  for (size_t i = first; i < n; i += stride) sgd(i);
}

/* The image ops: one thread per pixel (kn_math.h's bodies loop over its
 * channels and window), Body one of them. */
template <void (*Body)(size_t, int, int, int, int, const float *, float *)> struct image_op {
  dpt_image g;
  const float *in;
  float *out;
  __device__ void operator()(size_t p) const { Body(p, g.h, g.w, g.c, g.k, in, out); }
};

struct maxpool_bwd_op {
  dpt_image g;
  int relu;
  const float *x, *dy;
  float *dx;
  __device__ void operator()(size_t p) const
  {
    kn_maxpool_bwd_pixel(p, g.h, g.w, g.c, g.k, relu, x, dy, dx);
  }
};

} // namespace

cudaError_t dpt_launch_fill(cudaStream_t s, size_t n, float v, float *y)
{
  return launch_each(s, n, fill_op{v, y});
}

cudaError_t dpt_launch_bias_act(cudaStream_t s, size_t n, int cols, const float *bias, int relu,
                                float *y)
{
  return launch_each(s, n, bias_act_op{cols, bias, relu, y});
}

cudaError_t dpt_launch_relu_bwd(cudaStream_t s, size_t n, const float *y, const float *dy,
                                float *dx)
{
  return launch_each(s, n, relu_bwd_op{y, dy, dx});
}

cudaError_t dpt_launch_softmax_xent(cudaStream_t s, int rows, int cols, const float *logits,
                                    const int32_t *labels, float grad_scale, float *dlogits,
                                    float *row_loss, int32_t *row_argmax)
{
  return launch_each(
      s, (size_t)rows,
      softmax_xent_op{cols, logits, labels, grad_scale, dlogits, row_loss, row_argmax});
}

cudaError_t dpt_launch_sgd_step(cudaStream_t s, size_t n, float *params, const float *grads,
                                float *velocity, float lr, float momentum, float weight_decay,
                                const float *skip_votes)
{
  return launch_each(s, n,
                     sgd_step_op{params, grads, velocity, lr, momentum, weight_decay, skip_votes});
}

cudaError_t dpt_launch_sgd_step_commit(cudaStream_t s, size_t n, float *params, const float *grads,
                                       float *velocity, float lr, float momentum,
                                       float weight_decay, const float *tally,
                                       const dpt_ledger_step *step)
{
  size_t blocks = (n + kThreads - 1) / kThreads;
  if (blocks == 0) blocks = 1;
  if (blocks > kMaxBlocks) blocks = kMaxBlocks;
  sgd_step_op sgd{params, grads, velocity, lr, momentum, weight_decay, tally + DPT_TALLY_SKIP};
  sgd_step_commit_kernel<<<(unsigned)blocks, kThreads, 0, s>>>(n, sgd, tally, *step);
  return cudaGetLastError();
}

cudaError_t dpt_launch_add(cudaStream_t s, size_t n, const float *x, float *acc)
{
  return launch_each(s, n, add_op{x, acc});
}

cudaError_t dpt_launch_flag_nonfinite(cudaStream_t s, size_t n, const float *x, int *flag)
{
  return launch_each(s, n, nonfinite_op{x, flag});
}

cudaError_t dpt_launch_vote(cudaStream_t s, size_t n, const float *grads, const float *gate,
                            float *tally)
{
  return launch_each(s, n, vote_op{grads, gate, tally});
}

cudaError_t dpt_launch_ledger_commit(cudaStream_t s, dpt_ledger *ledger, const float *tally,
                                     int rows, const float *row_loss, const int32_t *row_argmax,
                                     const int32_t *labels, double step, int max_skips,
                                     int nonfinite_stop)
{
  ledger_commit_kernel<<<1, 1, 0, s>>>(ledger, tally, rows, row_loss, row_argmax, labels, step,
                                       max_skips, nonfinite_stop);
  return cudaGetLastError();
}

cudaError_t dpt_launch_im2col(cudaStream_t s, dpt_image g, const float *x, float *cols)
{
  size_t pixels = kn_pixels(g.rows, kn_conv_out(g.h, g.k), kn_conv_out(g.w, g.k));
  return launch_each(s, pixels, image_op<kn_im2col_pixel>{g, x, cols});
}

cudaError_t dpt_launch_col2im(cudaStream_t s, dpt_image g, const float *dcols, float *dx)
{
  return launch_each(s, kn_pixels(g.rows, g.h, g.w), image_op<kn_col2im_pixel>{g, dcols, dx});
}

cudaError_t dpt_launch_maxpool(cudaStream_t s, dpt_image g, const float *x, float *y)
{
  return launch_each(s, kn_pixels(g.rows, g.h / g.k, g.w / g.k),
                     image_op<kn_maxpool_pixel>{g, x, y});
}

cudaError_t dpt_launch_maxpool_bwd(cudaStream_t s, dpt_image g, bool relu, const float *x,
                                   const float *dy, float *dx)
{
  return launch_each(s, kn_pixels(g.rows, g.h / g.k, g.w / g.k),
                     maxpool_bwd_op{g, relu ? 1 : 0, x, dy, dx});
}
