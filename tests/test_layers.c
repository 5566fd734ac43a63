/* The conv and pooling layers on the CPU backend: im2col + GEMM and the fused conv passes
 * against a direct convolution and its adjoint, the conv + max pooling pair against the separate
 * ops, col2im as im2col's adjoint, max pooling's tie
 * rule, the CPU's loops against the per-pixel bodies bit for bit, and finite-difference checks
 * of every parameter of small CNNs (odd sizes, several channels, padding at the borders). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dpt/mlp.h"
#include "dpt/rng.h"
#include "kernels/cpu_conv.h"
#include "kernels/cpu_image.h"
#include "kernels/kn_math.h"
#include "tests/lib/gradcheck.h"
#include "tests/lib/test_util.h"

/* threads: the BLAS's and the image ops' (kernels/cpu_pool.h). */
static dpt_device open_cpu_threads(int threads)
{
  dpt_device dev;
  dpt_err err = {0};
  CU_ASSERT_FATAL(dpt_device_open(DPT_DEVICE_CPU, 0, threads, &dev, &err) == 0);
  return dev;
}

static dpt_device open_cpu(void) { return open_cpu_threads(1); }

static float *random_floats(size_t n, uint64_t seed)
{
  dpt_rng rng;
  dpt_rng_seed(&rng, seed);
  float *a = malloc(n * sizeof(float));
  for (size_t i = 0; i < n; i++) a[i] = dpt_rng_normal(&rng);
  return a;
}

static size_t at(const dpt_image *g, int r, int y, int x, int ch)
{
  return (((size_t)r * (size_t)g->h + (size_t)y) * (size_t)g->w + (size_t)x) * (size_t)g->c +
         (size_t)ch;
}

static bool same_bits(const float *a, const float *b, size_t n)
{
  return memcmp(a, b, n * sizeof(float)) == 0;
}

/* A batch of images and the sizes of its conv's buffers, in floats. */
typedef struct conv_sizes {
  dpt_image g;
  size_t images, pixels, patches; /* the batch's values; its output pixels; their patches' */
} conv_sizes;

static conv_sizes conv_sizes_of(int rows, int h, int w, int c, int k)
{
  conv_sizes s = {.g = {.rows = rows, .h = h, .w = w, .c = c, .k = k}};
  s.images = (size_t)rows * h * w * c;
  s.pixels = kn_patch_rows(rows, h, w, k);
  s.patches = s.pixels * kn_patch_width(c, k);
  return s;
}

/* out[r][oy][ox][co] = sum over ky, kx, ci of w[co][ky][kx][ci] x[r][oy+ky-pad][ox+kx-pad][ci],
 * zero outside the image: the convolution written out, in double. */
static void direct_conv(const dpt_image *g, int c_out, const float *x, const float *w, double *out)
{
  int oh = g->h + 2 * (g->k / 2) - g->k + 1, ow = g->w + 2 * (g->k / 2) - g->k + 1;
  for (int r = 0; r < g->rows; r++)
    for (int oy = 0; oy < oh; oy++)
      for (int ox = 0; ox < ow; ox++)
        for (int co = 0; co < c_out; co++) {
          double sum = 0;
          for (int ky = 0; ky < g->k; ky++)
            for (int kx = 0; kx < g->k; kx++) {
              int iy = oy + ky - g->k / 2, ix = ox + kx - g->k / 2;
              if (iy < 0 || iy >= g->h || ix < 0 || ix >= g->w) continue;
              for (int ci = 0; ci < g->c; ci++)
                sum += (double)w[((co * g->k + ky) * g->k + kx) * g->c + ci] *
                       x[at(g, r, iy, ix, ci)];
            }
          out[(((size_t)r * oh + oy) * ow + ox) * c_out + co] = sum;
        }
}

static void check_conv(int rows, int h, int w, int c, int k, int c_out)
{
  dpt_device dev = open_cpu();
  dpt_err err = {0};
  dpt_image g = {.rows = rows, .h = h, .w = w, .c = c, .k = k};
  int oh = kn_conv_out(h, k), ow = kn_conv_out(w, k);
  size_t pixels = (size_t)rows * oh * ow, width = (size_t)k * k * c;
  float *x = random_floats((size_t)rows * h * w * c, 1), *wt = random_floats(c_out * width, 2);
  float *cols = malloc(pixels * width * sizeof(float)), *got = malloc(pixels * c_out * sizeof(float));
  double *want = malloc(pixels * c_out * sizeof(double));
  CU_ASSERT_FATAL(dpt_dev_im2col(&dev, g, x, cols, &err) == 0);
  CU_ASSERT_FATAL(dpt_dev_gemm(&dev, false, true, (int)pixels, c_out, (int)width, 1.f, cols,
                               (int)width, wt, (int)width, 0.f, got, c_out, &err) == 0);
  direct_conv(&g, c_out, x, wt, want);
  size_t bad = 0;
  for (size_t i = 0; i < pixels * (size_t)c_out; i++) bad += fabs(got[i] - want[i]) > 1e-4 * (1 + fabs(want[i]));
  CU_ASSERT_EQUAL(bad, 0);
  free(x), free(wt), free(cols), free(got), free(want);
  dpt_device_close(&dev);
}

static void test_conv_matches_direct(void)
{
  check_conv(2, 5, 7, 3, 3, 4); /* odd sizes, several channels, the padding at every border */
  check_conv(3, 6, 4, 2, 5, 3); /* a kernel wider than the image's width */
  check_conv(1, 4, 4, 1, 1, 2); /* no padding */
  check_conv(2, 5, 5, 2, 2, 3); /* even kernel: one pixel more each way */
}

/* dx of a conv from the gradient d of its output: each output's gradient times the weights,
 * scattered back onto the input pixels it read, in double. */
static void direct_conv_bwd(const dpt_image *g, int c_out, const float *d, const float *w,
                            double *dx)
{
  int oh = kn_conv_out(g->h, g->k), ow = kn_conv_out(g->w, g->k);
  memset(dx, 0, (size_t)g->rows * g->h * g->w * g->c * sizeof(double));
  for (int r = 0; r < g->rows; r++)
    for (int oy = 0; oy < oh; oy++)
      for (int ox = 0; ox < ow; ox++)
        for (int co = 0; co < c_out; co++) {
          double dy = d[(((size_t)r * oh + oy) * ow + ox) * c_out + co];
          for (int ky = 0; ky < g->k; ky++)
            for (int kx = 0; kx < g->k; kx++) {
              int iy = oy + ky - g->k / 2, ix = ox + kx - g->k / 2;
              if (iy < 0 || iy >= g->h || ix < 0 || ix >= g->w) continue;
              for (int ci = 0; ci < g->c; ci++)
                dx[at(g, r, iy, ix, ci)] += dy * w[((co * g->k + ky) * g->k + kx) * g->c + ci];
            }
        }
}

static size_t far_off(const float *got, const double *want, size_t n)
{
  size_t bad = 0;
  for (size_t i = 0; i < n; i++) bad += !(fabs(got[i] - want[i]) <= 1e-4 * (1 + fabs(want[i])));
  return bad;
}

/* The CPU's fused conv passes, which run a few images at a time (kernels/cpu_conv.c), against
 * the direct convolution: the output with bias and ReLU, the patches kept for the weight
 * gradient (every block's where the whole batch's im2col puts them), and the input gradient. */
static void check_fused_conv(int threads, int rows, int h, int w, int c, int k, int c_out)
{
  dpt_device dev = open_cpu_threads(threads);
  dpt_err err = {0};
  conv_sizes s = conv_sizes_of(rows, h, w, c, k);
  dpt_image g = s.g;
  size_t nx = s.images, pixels = s.pixels, nc = s.patches, ny = pixels * (size_t)c_out;
  float *x = random_floats(nx, 8), *wt = random_floats((size_t)c_out * k * k * c, 9);
  float *bias = random_floats((size_t)c_out, 10), *d = random_floats(ny, 11);
  float *cols = malloc(nc * sizeof(float)), *patches = malloc(nc * sizeof(float));
  float *y = malloc(ny * sizeof(float)), *dx = malloc(nx * sizeof(float));
  double *want = malloc((ny > nx ? ny : nx) * sizeof(double));
  for (size_t p = 0; p < pixels; p++) kn_im2col_pixel(p, h, w, c, k, x, patches);
  for (int relu = 0; relu < 2; relu++) {
    for (size_t i = 0; i < nc; i++) cols[i] = NAN;
    CU_ASSERT_FATAL(dpt_dev_conv_fwd(&dev, g, c_out, x, wt, bias, relu, cols, y, NULL, &err) == 0);
    CU_ASSERT(same_bits(cols, patches, nc));
    direct_conv(&g, c_out, x, wt, want);
    for (size_t i = 0; i < ny; i++) {
      want[i] += bias[i % (size_t)c_out];
      if (relu && !(want[i] > 0)) want[i] = 0;
    }
    CU_ASSERT_EQUAL(far_off(y, want, ny), 0);
  }
  for (size_t i = 0; i < nx; i++) dx[i] = 99.f; /* every entry must be written */
  CU_ASSERT_FATAL(dpt_dev_conv_bwd_data(&dev, g, c_out, d, wt, cols, dx, &err) == 0);
  direct_conv_bwd(&g, c_out, d, wt, want);
  CU_ASSERT_EQUAL(far_off(dx, want, nx), 0);
  free(x), free(wt), free(bias), free(d), free(cols), free(patches), free(y), free(dx), free(want);
  dpt_device_close(&dev);
}

static void test_fused_conv_matches_direct(void)
{
  dpt_image two_per_block = {.rows = 7, .h = 28, .w = 28, .c = 8, .k = 3};
  dpt_image one_per_block = {.rows = 3, .h = 40, .w = 40, .c = 16, .k = 3};
  CU_ASSERT_EQUAL(dpt_cpu_conv_block_images(two_per_block), 2); /* blocks of 2, 2, 2 and 1 */
  CU_ASSERT_EQUAL(dpt_cpu_conv_block_images(one_per_block), 1); /* an image over the budget */
  for (int threads = 1; threads <= 3; threads += 2) { /* one part; parts of 2, 2 and 3 images */
    check_fused_conv(threads, 7, 28, 28, 8, 3, 5);
    check_fused_conv(threads, 3, 40, 40, 16, 3, 4);
    check_fused_conv(threads, 4, 9, 7, 3, 5, 6); /* odd sides, a wide kernel: one block */
    check_fused_conv(threads, 2, 4, 4, 2, 2, 3); /* an even kernel */
  }
}

/* The weight and bias gradients of a conv from its output's gradient d and its patches, in
 * double: gw[o][j] = sum over pixels of d[p][o] patches[p][j], gb[o] = sum of d[p][o]. */
static void direct_conv_weights(size_t pixels, size_t width, int c_out, const float *d,
                                const float *patches, double *gw, double *gb)
{
  memset(gw, 0, (size_t)c_out * width * sizeof(double));
  memset(gb, 0, (size_t)c_out * sizeof(double));
  for (size_t p = 0; p < pixels; p++)
    for (int o = 0; o < c_out; o++) {
      double g = d[p * (size_t)c_out + (size_t)o];
      gb[o] += g;
      for (size_t j = 0; j < width; j++) gw[(size_t)o * width + j] += g * patches[p * width + j];
    }
}

/* The CPU's conv + max pooling pair (dpt_dev_conv_pool_*: a few images at a time, the conv's
 * output pooled in cache and kept only as each pooled value's code, each part of the pool summing
 * its own blocks' weight gradients) against the separate ops: the patches bit for bit; the pooled
 * output within rounding (OpenBLAS's bits depend on where a GEMM is cut, and the pair cuts it
 * into smaller blocks); every code the entry kn_pool_argmax takes, or none where the ReLU stops
 * it; the gradients against the double sums over the separate maxpool_bwd's conv-output
 * gradient; with tied: values that tie in windows, and NaNs, for the codes. Buffers start as NaN
 * or stale values, so that an entry the pair leaves unwritten shows. */
static void check_conv_pool_on(int threads, int rows, int h, int w, int c, int k, int c_out,
                               int pool, bool tied)
{
  dpt_device dev = open_cpu_threads(threads);
  dpt_err err = {0};
  conv_sizes s = conv_sizes_of(rows, h, w, c, k);
  size_t nx = s.images, pixels = s.pixels, nc = s.patches, width = kn_patch_width(c, k);
  size_t ny = pixels * (size_t)c_out, nw = (size_t)c_out * width;
  size_t pooled = kn_pixels(rows, kn_conv_out(h, k) / pool, kn_conv_out(w, k) / pool) * c_out;
  float *x = random_floats(nx, 12), *wt = random_floats(nw, 13), *bias = random_floats(c_out, 14);
  if (tied) /* halves sum exactly, so windows tie, and NaNs: forward checks only */
    for (size_t i = 0; i < nx || i < nw; i++) {
      if (i < nx) x[i] = i % 41 == 7 ? NAN : roundf(x[i] * 2.f) / 2.f;
      if (i < nw) wt[i] = roundf(wt[i] * 2.f) / 2.f;
    }
  float *dy = random_floats(pooled, 15), *cols = malloc(nc * sizeof(float));
  float *conv_y = malloc(ny * sizeof(float)), *scratch = malloc(ny * sizeof(float));
  float *y = malloc(pooled * sizeof(float)), *want_y = malloc(pooled * sizeof(float));
  float *want_conv_y = malloc(ny * sizeof(float)), *patches = malloc(nc * sizeof(float));
  float *d = malloc(ny * sizeof(float)), *gw = malloc((nw + c_out) * sizeof(float));
  float *dx = malloc(nx * sizeof(float)), *gb = gw + nw;
  double *want = malloc((nw + c_out + nx) * sizeof(double)), *want_gb = want + nw;
  double *want_dx = want_gb + c_out;
  dpt_image q = {.rows = rows, .h = kn_conv_out(h, k), .w = kn_conv_out(w, k), .c = c_out,
                 .k = pool};
  for (int relu = 0; relu < 2; relu++)
    for (int first = 0; first < 2; first++) { /* first: a model's first layer, no dx */
      dpt_conv_pool p = {.g = s.g, .out_c = c_out, .pool = pool, .relu = relu, .w = wt,
                         .bias = bias, .cols = cols, .conv_y = conv_y, .scratch = scratch};
      for (size_t i = 0; i < ny; i++) conv_y[i] = scratch[i] = NAN;
      for (size_t i = 0; i < nc; i++) cols[i] = NAN;
      CU_ASSERT_FATAL(dpt_dev_conv_pool_fwd(&dev, &p, x, y, &err) == 0);
      CU_ASSERT_FATAL(dpt_dev_conv_fwd(&dev, s.g, c_out, x, wt, bias, relu, patches, want_conv_y,
                                       NULL, &err) == 0);
      CU_ASSERT_FATAL(dpt_dev_maxpool(&dev, q, want_conv_y, want_y, &err) == 0);
      CU_ASSERT(same_bits(cols, patches, nc));
      size_t off = 0, miscoded = 0;
      for (size_t i = 0; i < pooled; i++)
        off += !(fabsf(y[i] - want_y[i]) <= 1e-5f * (1 + fabsf(want_y[i])) ||
                 (isnan(y[i]) && isnan(want_y[i])));
      CU_ASSERT_EQUAL(off, 0);
      for (size_t i = 0; i < pooled; i++) {
        size_t origin = kn_pool_origin(i / (size_t)c_out, q.h, q.w, c_out, pool);
        size_t e = kn_pool_argmax(want_conv_y + origin, q.w, c_out, pool, (int)(i % (size_t)c_out));
        int want_code = relu && !(want_conv_y[origin + e] > 0.f)
                            ? DPT_CPU_POOL_NONE
                            : (int)((e / (size_t)c_out) / (size_t)q.w * (size_t)pool +
                                    (e / (size_t)c_out) % (size_t)q.w);
        miscoded += ((const uint8_t *)conv_y)[i] != want_code;
      }
      CU_ASSERT_EQUAL(miscoded, 0);
      if (tied) continue;
      CU_ASSERT_FATAL(dpt_dev_maxpool_bwd(&dev, q, relu, want_conv_y, dy, d, &err) == 0);
      for (size_t i = 0; i < nw + (size_t)c_out; i++) gw[i] = NAN;
      for (size_t i = 0; i < nx; i++) dx[i] = 99.f;
      CU_ASSERT_FATAL(dpt_dev_conv_pool_bwd(&dev, &p, dy, gw, gb, first ? NULL : dx, &err) == 0);
      direct_conv_weights(pixels, width, c_out, d, patches, want, want_gb);
      CU_ASSERT_EQUAL(far_off(gw, want, nw + (size_t)c_out), 0);
      if (first) continue;
      direct_conv_bwd(&s.g, c_out, d, wt, want_dx);
      CU_ASSERT_EQUAL(far_off(dx, want_dx, nx), 0);
    }
  free(x), free(wt), free(bias), free(dy), free(cols), free(conv_y), free(scratch), free(y);
  free(want_y), free(want_conv_y), free(patches), free(d), free(gw), free(dx), free(want);
  dpt_device_close(&dev);
}

static void check_conv_pool(int threads, int rows, int h, int w, int c, int k, int c_out,
                            int pool)
{
  check_conv_pool_on(threads, rows, h, w, c, k, c_out, pool, false);
  check_conv_pool_on(threads, rows, h, w, c, k, c_out, pool, true);
}

static void test_conv_pool_matches_separate_ops(void)
{
  dpt_conv_pool four_per_block = {.g = {.rows = 11, .h = 28, .w = 28, .c = 1, .k = 3},
                                  .out_c = 32, .pool = 2};
  CU_ASSERT_EQUAL(dpt_cpu_conv_pool_block_images(&four_per_block), 4); /* patches and output */
  for (int threads = 1; threads <= 3; threads += 2) {
    check_conv_pool(threads, 11, 28, 28, 1, 3, 32, 2); /* the cnn preset's first: 4, 4, 3 */
    check_conv_pool(threads, 3, 14, 14, 8, 3, 16, 2);
    check_conv_pool(threads, 5, 7, 9, 3, 3, 5, 2);     /* a row and a column left uncovered */
    check_conv_pool(threads, 2, 8, 6, 2, 5, 3, 3);     /* a wide kernel, a 3 x 3 window */
    check_conv_pool(threads, 1, 6, 6, 2, 3, 4, 2);     /* fewer images than parts */
  }
}

/* col2im is im2col's adjoint: <im2col(x), c> = <x, col2im(c)> for any x and c. */
static void test_col2im_is_adjoint(void)
{
  dpt_device dev = open_cpu();
  dpt_err err = {0};
  dpt_image g = {.rows = 2, .h = 5, .w = 6, .c = 3, .k = 3};
  size_t nx = (size_t)g.rows * g.h * g.w * g.c, nc = (size_t)g.rows * g.h * g.w * 9 * g.c;
  float *x = random_floats(nx, 3), *c = random_floats(nc, 4);
  float *cols = malloc(nc * sizeof(float)), *dx = malloc(nx * sizeof(float));
  CU_ASSERT_FATAL(dpt_dev_im2col(&dev, g, x, cols, &err) == 0);
  CU_ASSERT_FATAL(dpt_dev_col2im(&dev, g, c, dx, &err) == 0);
  double left = 0, right = 0;
  for (size_t i = 0; i < nc; i++) left += (double)cols[i] * c[i];
  for (size_t i = 0; i < nx; i++) right += (double)x[i] * dx[i];
  CU_ASSERT(fabs(left - right) < 1e-4 * (1 + fabs(left)));
  free(x), free(c), free(cols), free(dx);
  dpt_device_close(&dev);
}

/* Values from a few levels, so that pooling windows tie often, with a NaN now and then. */
static float *tied_floats(size_t n, uint64_t seed)
{
  float *a = random_floats(n, seed);
  for (size_t i = 0; i < n; i++) a[i] = i % 37 == 5 ? NAN : roundf(a[i] * 2.f) / 2.f;
  return a;
}

/* The CPU backend's image loops give exactly the bits of kn_math.h's per-pixel bodies (what the
 * CUDA kernels run): channel counts on both sides of its block of 64, odd sizes, even kernels, a
 * kernel wider than the image, pools that leave rows and columns uncovered, ties and NaNs. */
static void check_image_ops_on(int threads, int rows, int h, int w, int c, int k, int pool)
{
  dpt_device dev = open_cpu_threads(threads);
  dpt_err err = {0};
  conv_sizes s = conv_sizes_of(rows, h, w, c, k);
  dpt_image g = s.g;
  size_t nx = s.images, patches = s.pixels, nc = s.patches;
  float *x = tied_floats(nx, 5), *dcols = random_floats(nc, 6);
  float *got = malloc(nc * sizeof(float)), *want = malloc(nc * sizeof(float));
  CU_ASSERT_FATAL(dpt_dev_im2col(&dev, g, x, got, &err) == 0);
  for (size_t p = 0; p < patches; p++) kn_im2col_pixel(p, h, w, c, k, x, want);
  CU_ASSERT(same_bits(got, want, nc));
  CU_ASSERT_FATAL(dpt_dev_col2im(&dev, g, dcols, got, &err) == 0);
  for (size_t p = 0; p < kn_pixels(rows, h, w); p++) kn_col2im_pixel(p, h, w, c, k, dcols, want);
  CU_ASSERT(same_bits(got, want, nx));

  dpt_image q = {.rows = rows, .h = h, .w = w, .c = c, .k = pool};
  size_t pooled = kn_pixels(rows, h / pool, w / pool);
  float *dy = random_floats(pooled * c, 7);
  CU_ASSERT_FATAL(dpt_dev_maxpool(&dev, q, x, got, &err) == 0);
  for (size_t p = 0; p < pooled; p++) kn_maxpool_pixel(p, h, w, c, pool, x, want);
  CU_ASSERT(same_bits(got, want, pooled * c));
  for (int relu = 0; relu < 2; relu++) {
    for (size_t i = 0; i < nx; i++) got[i] = 99.f; /* every entry must be written */
    CU_ASSERT_FATAL(dpt_dev_maxpool_bwd(&dev, q, relu, x, dy, got, &err) == 0);
    memset(want, 0, nx * sizeof(float));
    for (size_t p = 0; p < pooled; p++) kn_maxpool_bwd_pixel(p, h, w, c, pool, relu, x, dy, want);
    CU_ASSERT(same_bits(got, want, nx));
  }
  free(x), free(dcols), free(got), free(want), free(dy);
  dpt_device_close(&dev);
}

static void check_image_ops_match_bodies(int rows, int h, int w, int c, int k, int pool)
{
  check_image_ops_on(1, rows, h, w, c, k, pool);
}

static void test_image_ops_match_bodies(void)
{
  check_image_ops_match_bodies(3, 7, 5, 1, 3, 2);  /* one channel, odd sides: uncovered edges */
  check_image_ops_match_bodies(2, 6, 9, 3, 5, 3);  /* wide kernel, pool of 3 */
  check_image_ops_match_bodies(2, 4, 4, 70, 2, 2); /* channels past one block, even kernel */
  check_image_ops_match_bodies(1, 3, 2, 2, 7, 2);  /* a kernel wider than the image */
  check_image_ops_match_bodies(2, 5, 5, 64, 1, 5); /* one block exactly, a 1 x 1 kernel */
}

/* The same bits with the rows split over 3 threads (the caller and 2 helpers), with fewer rows
 * than threads too (a part with none), and under ThreadSanitizer no race between the parts. */
static void test_image_ops_split_over_threads(void)
{
  check_image_ops_on(3, 7, 9, 8, 5, 3, 2);
  check_image_ops_on(3, 2, 6, 9, 3, 5, 3);
  check_image_ops_on(3, 1, 5, 5, 64, 1, 5);
  check_image_ops_on(2, 5, 4, 4, 70, 2, 2);
}

/* The ReLU's backward fused into the pool's: a window whose maximum is not above 0 (an output
 * the ReLU clamped) passes no gradient, one whose maximum is passes it as without the ReLU. */
static void test_maxpool_bwd_fuses_relu(void)
{
  dpt_device dev = open_cpu();
  dpt_err err = {0};
  dpt_image g = {.rows = 1, .h = 2, .w = 4, .c = 1, .k = 2}; /* windows of x's columns 0-1, 2-3 */
  const float x[8] = {0.5f, 0.f, 0.f, 0.f, 0.f, -1.f, -1.f, -2.f}, dy[2] = {3.f, 4.f};
  float dx[8];
  const float plain[8] = {3.f, 0.f, 4.f, 0.f, 0.f, 0.f, 0.f, 0.f};
  const float fused[8] = {3.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f};
  CU_ASSERT_FATAL(dpt_dev_maxpool_bwd(&dev, g, false, x, dy, dx, &err) == 0);
  CU_ASSERT_EQUAL(memcmp(dx, plain, sizeof dx), 0);
  CU_ASSERT_FATAL(dpt_dev_maxpool_bwd(&dev, g, true, x, dy, dx, &err) == 0);
  CU_ASSERT_EQUAL(memcmp(dx, fused, sizeof dx), 0);
  dpt_device_close(&dev);
}

/* The tie rule: a window's first largest entry in row-major order takes the max and the
 * gradient; entries no window covers (the odd last row and column) get none. */
static void test_maxpool_ties_and_uncovered(void)
{
  dpt_device dev = open_cpu();
  dpt_err err = {0};
  dpt_image g = {.rows = 1, .h = 3, .w = 5, .c = 2, .k = 2}; /* output 1 x 2 */
  float x[30], dy[4] = {1.f, 2.f, 3.f, 4.f}, y[4], dx[30];
  for (int i = 0; i < 30; i++) x[i] = -1.f;
  /* Channel 0: window 0 ties at (0,1) and (1,0): (0,1) wins. Window 1 all equal: (0,2) wins. */
  x[at(&g, 0, 0, 1, 0)] = x[at(&g, 0, 1, 0, 0)] = 5.f;
  for (int yy = 0; yy < 2; yy++)
    for (int xx = 2; xx < 4; xx++) x[at(&g, 0, yy, xx, 0)] = 7.f;
  /* Channel 1: window 0's max at (1,1) alone; window 1 ties at (1,2) and (1,3): (1,2) wins. */
  x[at(&g, 0, 1, 1, 1)] = 2.f;
  x[at(&g, 0, 1, 2, 1)] = x[at(&g, 0, 1, 3, 1)] = 3.f;
  x[at(&g, 0, 2, 4, 1)] = 9.f; /* uncovered: never the max, never a gradient */
  CU_ASSERT_FATAL(dpt_dev_maxpool(&dev, g, x, y, &err) == 0);
  CU_ASSERT_EQUAL(y[0], 5.f);
  CU_ASSERT_EQUAL(y[1], 2.f);
  CU_ASSERT_EQUAL(y[2], 7.f);
  CU_ASSERT_EQUAL(y[3], 3.f);
  for (int i = 0; i < 30; i++) dx[i] = 99.f;
  CU_ASSERT_FATAL(dpt_dev_maxpool_bwd(&dev, g, false, x, dy, dx, &err) == 0);
  float want[30] = {0};
  want[at(&g, 0, 0, 1, 0)] = 1.f;
  want[at(&g, 0, 1, 1, 1)] = 2.f;
  want[at(&g, 0, 0, 2, 0)] = 3.f;
  want[at(&g, 0, 1, 2, 1)] = 4.f;
  CU_ASSERT_EQUAL(memcmp(dx, want, sizeof want), 0);
  dpt_device_close(&dev);
}

/* ---- finite differences over a whole model ---- */

/* The shape of spec_text on images of c x h x w, classes classes (the test stops on an error). */
static void build_shape(const char *spec_text, int c, int h, int w, int classes, dpt_mlp_shape *out)
{
  dpt_model_spec spec;
  dpt_err err = {0};
  CU_ASSERT_FATAL(dpt_model_spec_parse(spec_text, NULL, 0, &spec, &err) == 0);
  CU_ASSERT_FATAL(dpt_mlp_shape_build(&spec, c, h, w, classes, out, &err) == 0);
}

typedef struct fixture {
  dpt_device dev;
  dpt_mlp_shape shape;
  dpt_mlp_replica rep;
  float *grads;
  int rows;
} fixture;

static void fixture_open(fixture *f, const char *spec_text, int c, int h, int w, int classes,
                         int rows)
{
  dpt_err err = {0};
  f->dev = open_cpu();
  build_shape(spec_text, c, h, w, classes, &f->shape);
  size_t n = dpt_mlp_param_count(&f->shape);
  float *params = malloc(n * sizeof(float));
  dpt_mlp_init_params(&f->shape, 11, params);
  dpt_rng rng;
  dpt_rng_seed(&rng, 5);
  for (int l = 1; l <= f->shape.n_layers; l++) /* non-zero biases: exercised through the ReLUs */
    for (size_t i = dpt_mlp_bias_offset(&f->shape, l); i < dpt_mlp_weight_offset(&f->shape, l + 1); i++)
      params[i] = 0.1f * dpt_rng_normal(&rng);
  CU_ASSERT_FATAL(dpt_mlp_replica_create(&f->dev, &f->shape, rows, params, &f->rep, &err) == 0);
  CU_ASSERT_FATAL(dpt_dev_alloc(&f->dev, n * sizeof(float), (void **)&f->grads, &err) == 0);
  free(params);
  f->rows = rows;
  float *x = random_floats((size_t)rows * (size_t)f->shape.sizes[0], 6);
  int32_t *y = malloc((size_t)rows * sizeof(int32_t));
  for (int i = 0; i < rows; i++) y[i] = (int32_t)dpt_rng_below(&rng, (uint64_t)classes);
  CU_ASSERT_FATAL(dpt_mlp_load_rows(&f->rep, rows, x, y, &err) == 0);
  free(x);
  free(y);
}

static void fixture_close(fixture *f)
{
  dpt_mlp_replica_destroy(&f->rep);
  dpt_dev_free(&f->dev, f->grads);
  dpt_device_close(&f->dev);
}

static uint64_t mix(uint64_t h, uint64_t v) { return (h ^ v) * 1099511628211ULL; }

/* The summed loss, and a hash of every discrete choice the forward pass made: which units a ReLU
 * let through and which entry each pooling window took (and whether the ReLU below let it). A
 * perturbation that changes one measures a kink, not the gradient. */
static double loss_at(fixture *f, uint64_t *pattern)
{
  dpt_mlp_pass pass;
  dpt_err err = {0};
  CU_ASSERT_FATAL(dpt_mlp_forward(&f->rep, f->rows, &pass, &err) == 0);
  uint64_t h = 1469598103934665603ULL;
  for (int l = 1; l < f->shape.n_layers; l++) {
    const dpt_layer *y = &f->shape.layers[l];
    if (y->kind == DPT_LAYER_CONV && f->shape.layers[l + 1].kind == DPT_LAYER_MAXPOOL) {
      /* the CPU's conv + pool pair keeps each pooled value's code, not the conv's output
       * (kernels/cpu_conv.h): the entry it took, or none where the ReLU stopped it */
      const uint8_t *code = (const uint8_t *)f->rep.acts[l];
      for (int i = 0; i < f->rows * f->shape.sizes[l + 1]; i++) h = mix(h, code[i]);
      l++;
      continue;
    }
    if (y->relu)
      for (int i = 0; i < f->rows * f->shape.sizes[l]; i++) h = mix(h, f->rep.acts[l][i] > 0.f);
    if (y->kind != DPT_LAYER_MAXPOOL) continue;
    size_t pixels = (size_t)f->rows * y->out_h * y->out_w;
    for (size_t p = 0; p < pixels; p++)
      for (int ch = 0; ch < y->in_c; ch++) {
        const float *win = f->rep.acts[l - 1] + kn_pool_origin(p, y->in_h, y->in_w, y->in_c, y->kernel);
        h = mix(h, kn_pool_argmax(win, y->in_w, y->in_c, y->kernel, ch));
      }
  }
  *pattern = h;
  return pass.loss_sum;
}

static double loss_of(void *ctx, uint64_t *pattern) { return loss_at(ctx, pattern); }

static void gradcheck(const char *spec, int c, int h, int w)
{
  fixture f;
  fixture_open(&f, spec, c, h, w, 4, 3);
  dpt_mlp_pass pass;
  dpt_err err = {0};
  CU_ASSERT_FATAL(dpt_mlp_forward_backward(&f.rep, f.rows, 1.f, f.grads, &pass, &err) == 0);
  size_t n = f.rep.n_params;
  float *grads = malloc(n * sizeof(float));
  memcpy(grads, f.grads, n * sizeof(float)); /* CPU backend: device memory is host memory */
  size_t skipped;
  CU_ASSERT_EQUAL(dpt_test_gradcheck(f.rep.params, 0, n, grads, 1e-3f, loss_of, &f, &skipped), 0);
  CU_ASSERT(skipped * 10 <= n);
  free(grads);
  fixture_close(&f);
}

/* Two convs (the second's input gradient goes through col2im and a maxpool's backward), odd
 * image sizes, 2 input channels. */
static void test_gradcheck_cnn(void)
{
  gradcheck("conv:3:3,relu,maxpool:2,conv:4:3,relu,fc:5,relu,fc", 2, 7, 5);
}

/* A pooling layer between two convs without a ReLU before it, a 5 x 5 kernel on a 5 x 6 image,
 * and a pool right before the classifier. */
static void test_gradcheck_pool_between_convs(void)
{
  gradcheck("conv:2:5,maxpool:2,conv:3:1,relu,maxpool:2,fc", 1, 5, 6);
}

static void test_layout_and_flops(void)
{
  dpt_mlp_shape s;
  build_shape("cnn", 1, 28, 28, 10, &s);
  size_t conv1 = 32 * 9 + 32, conv2 = 64 * 9 * 32 + 64, fc1 = 128 * 7 * 7 * 64 + 128;
  CU_ASSERT_EQUAL(dpt_mlp_param_count(&s), conv1 + conv2 + fc1 + 10 * 128 + 10);
  CU_ASSERT_EQUAL(s.n_layers, 6); /* the ReLUs are fused into the layers before them */
  CU_ASSERT_EQUAL(dpt_mlp_weight_offset(&s, 2), conv1); /* the pool has no parameters */
  CU_ASSERT_EQUAL(dpt_mlp_weight_offset(&s, 3), conv1);
  CU_ASSERT_EQUAL(dpt_mlp_bias_offset(&s, 3), conv1 + 64 * 9 * 32);
  double macs = 28 * 28 * 32 * 9 + 14 * 14 * 64 * 9 * 32 + 7 * 7 * 64 * 128 + 128 * 10;
  CU_ASSERT_DOUBLE_EQUAL(dpt_mlp_flops_per_sample(&s), 2 * macs, 0.5);
  char text[DPT_MODEL_TEXT_MAX];
  dpt_mlp_shape_text(&s, text, sizeof text);
  CU_ASSERT_STRING_EQUAL(text, "conv:32:3,relu,maxpool:2,conv:64:3,relu,maxpool:2,fc:128,relu,fc:10");
  /* The canonical text parses back to the same shape. */
  dpt_mlp_shape again;
  build_shape(text, 1, 28, 28, 10, &again);
  CU_ASSERT_EQUAL(again.n_layers, s.n_layers);
  CU_ASSERT_EQUAL(memcmp(again.sizes, s.sizes, sizeof s.sizes), 0);
  CU_ASSERT_EQUAL(dpt_mlp_param_count(&again), dpt_mlp_param_count(&s));
}

/* He initialization per layer: a conv's fan-in is C_in x K x K. */
static void test_he_init_conv(void)
{
  dpt_mlp_shape s;
  build_shape("conv:64:3,relu,fc", 16, 4, 4, 10, &s);
  float *p = malloc(dpt_mlp_param_count(&s) * sizeof(float));
  dpt_mlp_init_params(&s, 3, p);
  size_t nw = 64 * 9 * 16;
  double s2 = 0;
  for (size_t i = 0; i < nw; i++) s2 += (double)p[i] * p[i];
  CU_ASSERT(fabs(s2 / nw - 2.0 / 144) < 0.05 * (2.0 / 144));
  for (int i = 0; i < 64; i++) CU_ASSERT_EQUAL(p[nw + (size_t)i], 0.f);
  free(p);
}

int dpt_test_register(void)
{
  static const dpt_test_case ops[] = {DPT_TEST(test_conv_matches_direct),
                                      DPT_TEST(test_fused_conv_matches_direct),
                                      DPT_TEST(test_conv_pool_matches_separate_ops),
                                      DPT_TEST(test_col2im_is_adjoint),
                                      DPT_TEST(test_maxpool_ties_and_uncovered),
                                      DPT_TEST(test_maxpool_bwd_fuses_relu),
                                      DPT_TEST(test_image_ops_match_bodies),
                                      DPT_TEST(test_image_ops_split_over_threads),
                                      DPT_TEST_END};
  static const dpt_test_case grad[] = {DPT_TEST(test_gradcheck_cnn),
                                       DPT_TEST(test_gradcheck_pool_between_convs), DPT_TEST_END};
  static const dpt_test_case shape[] = {DPT_TEST(test_layout_and_flops),
                                        DPT_TEST(test_he_init_conv), DPT_TEST_END};
  int rc = dpt_test_add_suite("layer_ops", ops);
  if (!rc) rc = dpt_test_add_suite("cnn_gradients", grad);
  return rc ? rc : dpt_test_add_suite("cnn_shape", shape);
}
