/* Element-wise and per-row kernel bodies, written once: the CPU backend calls them in plain loops,
 * the CUDA backend wraps the same calls in grid-stride kernels, and the parameter server steps with
 * them too. So the CPU tests test the GPU's arithmetic, and every path rounds identically (builds
 * use -ffp-contract=off and nvcc --fmad=false). Plain C that nvcc also accepts. */
#ifndef KN_MATH_H
#define KN_MATH_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __CUDACC__
#define KN_HD __host__ __device__
#else
#define KN_HD
#endif

/* y[i] = v: the ones vector that turns column sums into a gemv. */
KN_HD static inline void kn_fill_at(size_t i, float v, float *y) { y[i] = v; }

/* relu(y + b), or y + b without the relu. */
KN_HD static inline float kn_bias_act(float y, float b, int relu)
{
  float v = y + b;
  return (relu && !(v > 0.f)) ? 0.f : v;
}

/* y[i] = relu(y[i] + bias[i % cols]) or without the relu. (The CPU loops row by row over
 * kn_bias_act instead: the modulo would keep gcc from vectorizing.) */
KN_HD static inline void kn_bias_act_at(size_t i, int cols, const float *bias, int relu, float *y)
{
  y[i] = kn_bias_act(y[i], bias[i % (size_t)cols], relu);
}

/* dy[i] is loaded whatever y[i] is: a load only under the condition keeps gcc from vectorizing. */
KN_HD static inline void kn_relu_bwd_at(size_t i, const float *y, const float *dy, float *dx)
{
  float g = dy[i];
  dx[i] = y[i] > 0.f ? g : 0.f;
}

KN_HD static inline void kn_add_at(size_t i, const float *x, float *acc) { acc[i] = acc[i] + x[i]; }

/* 1 when x[i] is NaN or +-Inf, else 0. */
KN_HD static inline int kn_nonfinite_at(size_t i, const float *x) { return !isfinite(x[i]); }

/* The skip rule, decided here only: an exchange whose workers cast skip_votes skip votes in all
 * (dpt/votes.h) skips its step on every worker, leaving parameters and optimizer state as they are,
 * as soon as one worker voted. The device's step asks it of the votes summed on the device
 * (dpt_dev_sgd_step), the parameter server of the votes it counted, the step guard of the counts. */
KN_HD static inline int kn_step_skipped(float skip_votes) { return skip_votes > 0.f; }

/* SGD with momentum and L2 weight decay (PyTorch's convention):
 *   g = grad + wd * p;  v = momentum * v + g;  p = p - lr * v */
KN_HD static inline void kn_sgd_step_at(size_t i, float *params, const float *grads,
                                         float *velocity, float lr, float momentum, float wd)
{
  float g = grads[i] + wd * params[i];
  float v = momentum * velocity[i] + g;
  velocity[i] = v;
  params[i] = params[i] - lr * v;
}

/* One row of softmax cross-entropy, stable: subtract the row max before exp.
 * dlogits = (softmax - onehot(label)) * grad_scale; returns through row_loss and row_argmax.
 * dlogits may alias logits. expf/logf come from <math.h> on the host and CUDA's math on the GPU. */
KN_HD static inline void kn_softmax_xent_row(int r, int cols, const float *logits,
                                             const int32_t *labels, float grad_scale,
                                             float *dlogits, float *row_loss, int32_t *row_argmax)
{
  const float *x = logits + (size_t)r * (size_t)cols;
  float *d = dlogits + (size_t)r * (size_t)cols;
  int label = labels[r];
  float mx = x[0];
  int arg = 0;
  for (int c = 1; c < cols; c++)
    if (x[c] > mx) {
      mx = x[c];
      arg = c;
    }
  float sum = 0.f;
  for (int c = 0; c < cols; c++) sum += expf(x[c] - mx);
  float log_sum = logf(sum);
  row_loss[r] = log_sum - (x[label] - mx);
  row_argmax[r] = arg;
  float inv = 1.f / sum;
  for (int c = 0; c < cols; c++) {
    float p = expf(x[c] - mx) * inv;
    d[c] = (p - (c == label ? 1.f : 0.f)) * grad_scale;
  }
}

#endif
