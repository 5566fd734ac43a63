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

/* ---- conv and pooling: images are h x w pixels of c channels, channels last, one per row ---- */

/* Pixels of rows images of h x w: what the image ops' bodies run over, one call each. */
KN_HD static inline size_t kn_pixels(int rows, int h, int w)
{
  return (size_t)rows * (size_t)h * (size_t)w;
}

/* A conv's output size along a side of n: stride 1, zero padding k / 2 (odd k keeps n). */
KN_HD static inline int kn_conv_out(int n, int k) { return n + 2 * (k / 2) - k + 1; }

/* A conv's patch matrix (im2col's output, its GEMM's left operand) for rows images of h x w x c:
 * one row per output pixel, k x k x c entries each. */
KN_HD static inline size_t kn_patch_rows(int rows, int h, int w, int k)
{
  return kn_pixels(rows, kn_conv_out(h, k), kn_conv_out(w, k));
}

KN_HD static inline size_t kn_patch_width(int c, int k) { return (size_t)k * (size_t)k * (size_t)c; }

/* im2col, one output pixel p (of rows x oh x ow, oh and ow from kn_conv_out) at a time: its
 * patch row cols[p][ky][kx][ch] = x[r][oy + ky - k/2][ox + kx - k/2][ch], 0 outside the image. A
 * conv is then cols [pixels x k*k*c] times W^T [k*k*c x C_out]. */
KN_HD static inline void kn_im2col_pixel(size_t p, int h, int w, int c, int k, const float *x,
                                         float *cols)
{
  int oh = kn_conv_out(h, k), ow = kn_conv_out(w, k), pad = k / 2;
  int ox = (int)(p % (size_t)ow), oy = (int)(p / (size_t)ow % (size_t)oh);
  size_t r = p / (size_t)ow / (size_t)oh;
  float *out = cols + p * (size_t)k * (size_t)k * (size_t)c;
  for (int ky = 0; ky < k; ky++)
    for (int kx = 0; kx < k; kx++, out += c) {
      int iy = oy + ky - pad, ix = ox + kx - pad;
      if (iy < 0 || iy >= h || ix < 0 || ix >= w) {
        for (int ch = 0; ch < c; ch++) out[ch] = 0.f;
        continue;
      }
      const float *in = x + ((r * (size_t)h + (size_t)iy) * (size_t)w + (size_t)ix) * (size_t)c;
      for (int ch = 0; ch < c; ch++) out[ch] = in[ch];
    }
}

/* col2im, the adjoint of im2col, one input pixel p (of rows x h x w) at a time: dx[p][ch] sums
 * the patch entries that copied it, in a fixed order, so every backend adds alike and no two
 * pixels write the same value. The order is the patches' own (ky, then kx, from k - 1 down: the
 * output pixels that read p in raster order), in which the CPU scatters whole patch rows. */
KN_HD static inline void kn_col2im_pixel(size_t p, int h, int w, int c, int k, const float *cols,
                                         float *dx)
{
  int oh = kn_conv_out(h, k), ow = kn_conv_out(w, k), pad = k / 2;
  int ix = (int)(p % (size_t)w), iy = (int)(p / (size_t)w % (size_t)h);
  size_t r = p / (size_t)w / (size_t)h;
  float *out = dx + p * (size_t)c;
  for (int ch = 0; ch < c; ch++) out[ch] = 0.f;
  for (int ky = k - 1; ky >= 0; ky--) {
    int oy = iy - ky + pad;
    if (oy < 0 || oy >= oh) continue;
    for (int kx = k - 1; kx >= 0; kx--) {
      int ox = ix - kx + pad;
      if (ox < 0 || ox >= ow) continue;
      size_t q = (r * (size_t)oh + (size_t)oy) * (size_t)ow + (size_t)ox;
      const float *in = cols + ((q * (size_t)k + (size_t)ky) * (size_t)k + (size_t)kx) * (size_t)c;
      for (int ch = 0; ch < c; ch++) out[ch] = out[ch] + in[ch];
    }
  }
}

/* The input pixel of rows x h x w where output pixel p's P x P window (stride P, output
 * (h / P) x (w / P)) starts, and a window entry's offset from it in values. */
KN_HD static inline size_t kn_pool_origin(size_t p, int h, int w, int c, int pool)
{
  int oh = h / pool, ow = w / pool;
  int ox = (int)(p % (size_t)ow), oy = (int)(p / (size_t)ow % (size_t)oh);
  size_t r = p / (size_t)ow / (size_t)oh;
  return ((r * (size_t)h + (size_t)oy * (size_t)pool) * (size_t)w + (size_t)ox * (size_t)pool) *
         (size_t)c;
}

KN_HD static inline size_t kn_pool_entry(int dy, int dx, int w, int c)
{
  return ((size_t)dy * (size_t)w + (size_t)dx) * (size_t)c;
}

/* The tie rule, decided here only: the window's maximum is its first largest entry in row-major
 * order (a later equal one does not replace it), so forward and backward agree on the one entry
 * that passes the gradient. Returns that entry's offset from the window's origin for channel ch. */
KN_HD static inline size_t kn_pool_argmax(const float *win, int w, int c, int pool, int ch)
{
  size_t best = (size_t)ch;
  for (int dy = 0; dy < pool; dy++)
    for (int dx = 0; dx < pool; dx++) {
      size_t at = kn_pool_entry(dy, dx, w, c) + (size_t)ch;
      if (win[at] > win[best]) best = at;
    }
  return best;
}

/* Max pooling, one output pixel p (of rows x h/P x w/P) at a time: y[p][ch] = the window's max. */
KN_HD static inline void kn_maxpool_pixel(size_t p, int h, int w, int c, int pool, const float *x,
                                          float *y)
{
  const float *win = x + kn_pool_origin(p, h, w, c, pool);
  for (int ch = 0; ch < c; ch++) y[p * (size_t)c + (size_t)ch] = win[kn_pool_argmax(win, w, c, pool, ch)];
}

/* Its backward, one output pixel p at a time: dy[p][ch] goes to the window's argmax entry of
 * dx, through the ReLU below (kn_relu_bwd_at's rule at that entry) when relu is set. Windows do
 * not overlap; the caller zeroes dx first (entries no window covers stay 0). */
KN_HD static inline void kn_maxpool_bwd_pixel(size_t p, int h, int w, int c, int pool, int relu,
                                              const float *x, const float *dy, float *dx)
{
  size_t origin = kn_pool_origin(p, h, w, c, pool);
  for (int ch = 0; ch < c; ch++) {
    size_t at = origin + kn_pool_argmax(x + origin, w, c, pool, ch);
    float g = dy[p * (size_t)c + (size_t)ch];
    dx[at] = relu && !(x[at] > 0.f) ? 0.f : g;
  }
}

#endif
