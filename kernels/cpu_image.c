/* The CPU backend's image ops over a range of images: the arithmetic of kn_math.h's per-pixel
 * bodies (the CUDA backend's kernels), in loops that walk whole patch rows and channel runs, so
 * the compiler vectorizes them and no pixel's indices are divided out of a flat index. They give
 * the bodies' bits (test_ops compares them with the emulated CUDA kernels). */
#include "kernels/cpu_image.h"

#include <stdint.h>
#include <string.h>

#include "kernels/kn_math.h"

/* Channels of one pooling window handled at once: their running maxima stay on the stack. */
enum { POOL_CHANNELS = 64 };

static size_t at(int r, int y, int x, int h, int w, int c)
{
  return (((size_t)r * (size_t)h + (size_t)y) * (size_t)w + (size_t)x) * (size_t)c;
}

void dpt_cpu_im2col(dpt_image g, const float *x, float *cols, int r0, int r1)
{
  const int oh = kn_conv_out(g.h, g.k), ow = kn_conv_out(g.w, g.k), pad = g.k / 2;
  const size_t run = (size_t)g.k * (size_t)g.c; /* one patch row of k pixels */
  for (int r = r0; r < r1; r++)
    for (int oy = 0; oy < oh; oy++)
      for (int ox = 0; ox < ow; ox++) {
        float *out = cols + at(r, oy, ox, oh, ow, 1) * (size_t)g.k * run;
        /* kx in [lo, hi) falls inside the image on every row of the patch */
        int x0 = ox - pad, lo = x0 < 0 ? -x0 : 0, hi = g.w - x0 < g.k ? g.w - x0 : g.k;
        size_t first = (size_t)lo * (size_t)g.c, last = hi > lo ? (size_t)hi * (size_t)g.c : first;
        for (int ky = 0; ky < g.k; ky++, out += run) {
          int iy = oy + ky - pad;
          if (iy < 0 || iy >= g.h) {
            memset(out, 0, run * sizeof(float));
            continue;
          }
          const float *in = x + at(r, iy, x0 + lo, g.h, g.w, g.c);
          for (size_t i = 0; i < first; i++) out[i] = 0.f;
          for (size_t i = first; i < last; i++) out[i] = in[i - first];
          for (size_t i = last; i < run; i++) out[i] = 0.f;
        }
      }
}

/* Each output pixel in raster order adds its patch rows (k pixels of c channels, contiguous in
 * both cols and dx) onto the image: every input pixel receives its entries in kn_col2im_pixel's
 * order, onto 0, so the sums are the body's bits. */
void dpt_cpu_col2im(dpt_image g, const float *cols, float *dx, int r0, int r1)
{
  const int oh = kn_conv_out(g.h, g.k), ow = kn_conv_out(g.w, g.k), pad = g.k / 2;
  const size_t run = (size_t)g.k * (size_t)g.c;
  for (int r = r0; r < r1; r++) {
    memset(dx + at(r, 0, 0, g.h, g.w, g.c), 0, (size_t)g.h * (size_t)g.w * (size_t)g.c * sizeof(float));
    for (int oy = 0; oy < oh; oy++)
      for (int ox = 0; ox < ow; ox++) {
        const float *in = cols + at(r, oy, ox, oh, ow, 1) * (size_t)g.k * run;
        int x0 = ox - pad, lo = x0 < 0 ? -x0 : 0, hi = g.w - x0 < g.k ? g.w - x0 : g.k;
        if (hi <= lo) continue;
        size_t first = (size_t)lo * (size_t)g.c, last = (size_t)hi * (size_t)g.c;
        for (int ky = 0; ky < g.k; ky++, in += run) {
          int iy = oy + ky - pad;
          if (iy < 0 || iy >= g.h) continue;
          float *restrict out = dx + at(r, iy, x0 + lo, g.h, g.w, g.c);
          const float *restrict src = in + first;
          for (size_t i = 0; i < last - first; i++) out[i] = out[i] + src[i];
        }
      }
  }
}

/* The window's maxima of channels [c0, c0 + n): a strictly larger entry replaces the running
 * maximum, as in kn_pool_argmax, so the maximum is always the value of the entry it keeps. */
static void window_max(const float *win, int w, int c, int pool, int c0, int n, float *max)
{
  for (int i = 0; i < n; i++) max[i] = win[c0 + i];
  for (int e = 1; e < pool * pool; e++) {
    const float *v = win + kn_pool_entry(e / pool, e % pool, w, c) + c0;
    for (int i = 0; i < n; i++) max[i] = v[i] > max[i] ? v[i] : max[i];
  }
}

void dpt_cpu_maxpool(dpt_image g, const float *x, float *y, int r0, int r1)
{
  const int oh = g.h / g.k, ow = g.w / g.k;
  for (int r = r0; r < r1; r++)
    for (int oy = 0; oy < oh; oy++)
      for (int ox = 0; ox < ow; ox++) {
        const float *win = x + at(r, oy * g.k, ox * g.k, g.h, g.w, g.c);
        float *out = y + at(r, oy, ox, oh, ow, g.c);
        for (int c0 = 0; c0 < g.c; c0 += POOL_CHANNELS) {
          int n = g.c - c0 < POOL_CHANNELS ? g.c - c0 : POOL_CHANNELS;
          window_max(win, g.w, g.c, g.k, c0, n, out + c0);
        }
      }
}

/* Every entry of a window is written (dy at each channel's argmax, 0 at the others), so only
 * the rows and columns no window covers need zeroing. */
static void zero_uncovered(dpt_image g, float *dx, int r)
{
  const int covered_h = g.h / g.k * g.k, covered_w = g.w / g.k * g.k;
  const size_t c = (size_t)g.c;
  for (int iy = 0; iy < g.h; iy++) {
    int from = iy < covered_h ? covered_w : 0;
    if (from < g.w) memset(dx + at(r, iy, from, g.h, g.w, g.c), 0, (size_t)(g.w - from) * c * sizeof(float));
  }
}

/* kn_pool_argmax's entry is the first whose value equals the window's maximum (every entry
 * before it was smaller when the maximum passed it, and the maximum only grows), or the first
 * entry when that is a NaN (nothing replaces it). So the gradient goes to the first entry equal
 * to the maximum, found in row-major order without keeping an index per channel. */
void dpt_cpu_maxpool_bwd(dpt_image g, bool relu, const float *x, const float *dy, float *dx,
                         int r0, int r1)
{
  const int oh = g.h / g.k, ow = g.w / g.k, p = g.k;
  float max[POOL_CHANNELS];
  uint32_t open[POOL_CHANNELS]; /* all ones until the channel's entry is found */
  for (int r = r0; r < r1; r++) {
    zero_uncovered(g, dx, r);
    for (int oy = 0; oy < oh; oy++)
      for (int ox = 0; ox < ow; ox++) {
        size_t origin = at(r, oy * p, ox * p, g.h, g.w, g.c);
        const float *grad = dy + at(r, oy, ox, oh, ow, g.c);
        for (int c0 = 0; c0 < g.c; c0 += POOL_CHANNELS) {
          int n = g.c - c0 < POOL_CHANNELS ? g.c - c0 : POOL_CHANNELS;
          window_max(x + origin, g.w, g.c, p, c0, n, max);
          for (int i = 0; i < n; i++) open[i] = ~0u;
          for (int e = 0; e < p * p; e++) {
            size_t entry = origin + kn_pool_entry(e / p, e % p, g.w, g.c) + (size_t)c0;
            const float *v = x + entry;
            float *out = dx + entry;
            /* Bit masks, not branches, so that the loop vectorizes: the first entry also takes
             * a NaN maximum (only a NaN first entry makes one). */
            uint32_t nan_first = e == 0 ? ~0u : 0u, relu_off = relu ? 0u : ~0u;
            for (int i = 0; i < n; i++) {
              uint32_t bits, hit = -(uint32_t)(v[i] == max[i]) | (nan_first & -(uint32_t)(v[i] != v[i]));
              memcpy(&bits, &grad[c0 + i], sizeof bits);
              bits &= hit & open[i] & (relu_off | -(uint32_t)(v[i] > 0.f));
              open[i] &= ~hit;
              memcpy(&out[i], &bits, sizeof bits);
            }
          }
        }
      }
  }
}

/* Each maximum's entry: the first equal to it (kn_pool_argmax's, as in dpt_cpu_maxpool_bwd), or
 * the first entry for a NaN maximum, which nothing equals. Bit masks, not branches or selects,
 * so that the loop vectorizes (GCC 12 left a select of the entry scalar). */
static void window_entry(const float *win, int w, int c, int pool, int c0, int n,
                         const float *max, uint32_t *entry)
{
  uint32_t open[POOL_CHANNELS]; /* all ones until the channel's entry is found */
  for (int i = 0; i < n; i++) open[i] = ~0u, entry[i] = 0;
  for (int e = 0; e < pool * pool; e++) {
    const float *v = win + kn_pool_entry(e / pool, e % pool, w, c) + c0;
    for (int i = 0; i < n; i++) {
      uint32_t hit = -(uint32_t)(v[i] == max[i]) & open[i];
      entry[i] |= (uint32_t)e & hit;
      open[i] &= ~hit;
    }
  }
}

/* The same for 2 x 2 windows (the cnn preset's), one pass: the entries in the loop's body, so
 * that it vectorizes over the channels (GCC 12 ran the general loops above scalar here). */
static void window2_max_entry(const float *win, int w, int c, int c0, int n, float *max,
                              uint32_t *entry)
{
  const float *v0 = win + c0, *v1 = v0 + kn_pool_entry(0, 1, w, c);
  const float *v2 = v0 + kn_pool_entry(1, 0, w, c), *v3 = v0 + kn_pool_entry(1, 1, w, c);
  for (int i = 0; i < n; i++) {
    float m = v0[i];
    uint32_t at = 0, larger = -(uint32_t)(v1[i] > m);
    m = v1[i] > m ? v1[i] : m;
    at = (at & ~larger) | (1u & larger);
    larger = -(uint32_t)(v2[i] > m);
    m = v2[i] > m ? v2[i] : m;
    at = (at & ~larger) | (2u & larger);
    larger = -(uint32_t)(v3[i] > m);
    m = v3[i] > m ? v3[i] : m;
    entry[i] = (at & ~larger) | (3u & larger);
    max[i] = m;
  }
}

void dpt_cpu_maxpool_coded(dpt_image g, bool relu, const float *x, float *y, uint8_t *code,
                           int r0, int r1)
{
  const int oh = g.h / g.k, ow = g.w / g.k;
  float max[POOL_CHANNELS];
  uint32_t entry[POOL_CHANNELS];
  for (int r = r0; r < r1; r++)
    for (int oy = 0; oy < oh; oy++)
      for (int ox = 0; ox < ow; ox++) {
        const float *win = x + at(r, oy * g.k, ox * g.k, g.h, g.w, g.c);
        size_t out = at(r, oy, ox, oh, ow, g.c);
        for (int c0 = 0; c0 < g.c; c0 += POOL_CHANNELS) {
          int n = g.c - c0 < POOL_CHANNELS ? g.c - c0 : POOL_CHANNELS;
          if (g.k == 2)
            window2_max_entry(win, g.w, g.c, c0, n, max, entry);
          else {
            window_max(win, g.w, g.c, g.k, c0, n, max);
            window_entry(win, g.w, g.c, g.k, c0, n, max, entry);
          }
          /* with relu, the ReLU's backward at that entry (kn_relu_bwd_at): none unless > 0 */
          uint32_t keep_all = relu ? 0u : ~0u;
          for (int i = 0; i < n; i++) {
            uint32_t keep = keep_all | -(uint32_t)(max[i] > 0.f);
            entry[i] = (entry[i] & keep) | (DPT_CPU_POOL_NONE & ~keep);
          }
          for (int i = 0; i < n; i++) {
            y[out + c0 + i] = max[i];
            code[out + c0 + i] = (uint8_t)entry[i];
          }
        }
      }
}

/* A 2 x 2 window's gradient bits to the coded entry, 0 to the others, in one pass (as
 * window2_max_entry, so that it vectorizes). */
static void window2_route(float *win, int w, int c, int n, const uint32_t *entry,
                          const uint32_t *grad)
{
  float *t0 = win, *t1 = win + kn_pool_entry(0, 1, w, c);
  float *t2 = win + kn_pool_entry(1, 0, w, c), *t3 = win + kn_pool_entry(1, 1, w, c);
  for (int i = 0; i < n; i++) {
    uint32_t b[4];
    for (uint32_t e = 0; e < 4; e++) b[e] = grad[i] & -(uint32_t)(entry[i] == e);
    memcpy(t0 + i, b, sizeof(float));
    memcpy(t1 + i, b + 1, sizeof(float));
    memcpy(t2 + i, b + 2, sizeof(float));
    memcpy(t3 + i, b + 3, sizeof(float));
  }
}

void dpt_cpu_maxpool_bwd_coded(dpt_image g, const uint8_t *code, const float *dy, float *dx,
                               int r0, int r1)
{
  const int oh = g.h / g.k, ow = g.w / g.k, p = g.k;
  uint32_t entry[POOL_CHANNELS], grad[POOL_CHANNELS];
  for (int r = r0; r < r1; r++) {
    zero_uncovered(g, dx, r);
    for (int oy = 0; oy < oh; oy++)
      for (int ox = 0; ox < ow; ox++) {
        size_t origin = at(r, oy * p, ox * p, g.h, g.w, g.c), out = at(r, oy, ox, oh, ow, g.c);
        for (int c0 = 0; c0 < g.c; c0 += POOL_CHANNELS) {
          int n = g.c - c0 < POOL_CHANNELS ? g.c - c0 : POOL_CHANNELS;
          for (int i = 0; i < n; i++) entry[i] = code[out + c0 + i];
          for (int i = 0; i < n; i++) /* bits, copied as they are */
            memcpy(&grad[i], &dy[out + c0 + (size_t)i], sizeof(float));
          if (p == 2) {
            window2_route(dx + origin + c0, g.w, g.c, n, entry, grad);
            continue;
          }
          for (int e = 0; e < p * p; e++) {
            uint32_t bits[POOL_CHANNELS];
            for (int i = 0; i < n; i++) bits[i] = grad[i] & -(uint32_t)(entry[i] == (uint32_t)e);
            float *to = dx + origin + kn_pool_entry(e / p, e % p, g.w, g.c) + c0;
            for (int i = 0; i < n; i++) memcpy(&to[i], &bits[i], sizeof(float));
          }
        }
      }
  }
}
