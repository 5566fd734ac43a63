/* A conv's passes a block of images at a time, each block's ops back to back while its patches
 * are in the core's cache. Whole-batch, the cnn preset's second conv wrote its 29 MB patch
 * gradient to memory (OpenBLAS first zeroing it, for beta = 0) and col2im read it back; its
 * forward's GEMM read 29 MB of patches that im2col had just written, and bias_act made one more
 * pass over the output. */
#include "kernels/cpu_conv.h"

#include <cblas.h>
#include <string.h>

#include "kernels/cpu_bias_act.h"
#include "kernels/cpu_image.h"
#include "kernels/kn_math.h"

/* A block's patch matrix at most this many floats (the one image of a larger conv aside): half
 * of a 1 MiB L2, so that the GEMM's packed operands fit beside it. */
enum { CONV_BLOCK_FLOATS = 128 * 1024 };

static size_t image_floats(int h, int w, int c) { return (size_t)h * (size_t)w * (size_t)c; }

/* One image's patch matrix: its rows and their width. */
static size_t patch_pixels(dpt_image g) { return kn_patch_rows(1, g.h, g.w, g.k); }

static size_t patch_width(dpt_image g) { return kn_patch_width(g.c, g.k); }

/* The most images of g of per_image floats each within the block budget, at least 1. */
static int images_within_budget(dpt_image g, size_t per_image)
{
  size_t n = per_image ? CONV_BLOCK_FLOATS / per_image : 1;
  return n < 1 ? 1 : n > (size_t)g.rows ? (g.rows > 0 ? g.rows : 1) : (int)n;
}

int dpt_cpu_conv_block_images(dpt_image g)
{
  return images_within_budget(g, patch_pixels(g) * patch_width(g));
}

/* The conv's forward over images [b0, b0 + n): their patches into cols (where the whole batch's
 * would be, kept for the weight gradient), their output into out. */
static void conv_block_fwd(dpt_image g, int out_c, const float *x, const float *w,
                           const float *bias, bool relu, float *cols, float *out, int b0, int n)
{
  const size_t pixels = patch_pixels(g), width = patch_width(g);
  const int m = n * (int)pixels;
  float *patches = cols + (size_t)b0 * pixels * width;
  dpt_cpu_im2col(g, x + (size_t)b0 * image_floats(g.h, g.w, g.c), patches, 0, n);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, out_c, (int)width, 1.f, patches,
              (int)width, w, (int)width, 0.f, out, out_c);
  dpt_cpu_bias_act_rows(m, out_c, bias, relu, out);
}

void dpt_cpu_conv_fwd(dpt_image g, int out_c, const float *x, const float *w, const float *bias,
                      bool relu, float *cols, float *y, int r0, int r1)
{
  const int block = dpt_cpu_conv_block_images(g);
  for (int b0 = r0; b0 < r1; b0 += block)
    conv_block_fwd(g, out_c, x, w, bias, relu, cols,
                   y + (size_t)b0 * patch_pixels(g) * (size_t)out_c, b0,
                   r1 - b0 < block ? r1 - b0 : block);
}

/* Every block's patch gradient goes to the part's first block of cols, so the same cache lines
 * serve each block (cols is dead after the weight gradient). */
void dpt_cpu_conv_bwd_data(dpt_image g, int out_c, const float *d, const float *w, float *cols,
                           float *dx, int r0, int r1)
{
  const size_t pixels = patch_pixels(g), width = patch_width(g);
  const int block = dpt_cpu_conv_block_images(g);
  float *scratch = cols + (size_t)r0 * pixels * width;
  for (int b0 = r0; b0 < r1; b0 += block) {
    int n = r1 - b0 < block ? r1 - b0 : block, m = n * (int)pixels;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, (int)width, out_c, 1.f,
                d + (size_t)b0 * pixels * (size_t)out_c, out_c, w, (int)width, 0.f, scratch,
                (int)width);
    dpt_cpu_col2im(g, scratch, dx + (size_t)b0 * image_floats(g.h, g.w, g.c), 0, n);
  }
}

int dpt_cpu_conv_pool_block_images(const dpt_conv_pool *p)
{
  dpt_image c = dpt_conv_pool_image(p);
  return images_within_budget(p->g, patch_pixels(p->g) * patch_width(p->g) +
                                        image_floats(c.h, c.w, c.c));
}

bool dpt_cpu_conv_pool_coded(const dpt_conv_pool *p)
{
  return p->pool * p->pool <= DPT_CPU_POOL_NONE;
}

/* The pooled values of one image, and their codes (one byte each, from the start of conv_y). */
static size_t pooled_floats(const dpt_conv_pool *p)
{
  dpt_image c = dpt_conv_pool_image(p);
  return image_floats(c.h / c.k, c.w / c.k, c.c);
}

/* Each block's conv output goes to the range's first block of scratch and is pooled from there
 * while in cache; only the pooled values and their codes leave it. Whole-batch, the first conv's
 * 12.8 MB output went to memory and was read back by the pooling and by its backward. */
void dpt_cpu_conv_pool_fwd(const dpt_conv_pool *p, const float *x, float *y, int r0, int r1)
{
  const dpt_image c = dpt_conv_pool_image(p);
  const size_t pooled = pooled_floats(p);
  const int block = dpt_cpu_conv_pool_block_images(p);
  float *out = p->scratch + (size_t)r0 * image_floats(c.h, c.w, c.c);
  uint8_t *code = (uint8_t *)p->conv_y;
  for (int b0 = r0; b0 < r1; b0 += block) {
    int n = r1 - b0 < block ? r1 - b0 : block;
    conv_block_fwd(p->g, p->out_c, x, p->w, p->bias, p->relu, p->cols, out, b0, n);
    dpt_cpu_maxpool_coded(c, p->relu, out, y + (size_t)b0 * pooled, code + (size_t)b0 * pooled,
                          0, n);
  }
}

/* sum[j] (+)= the sum of x's rows [rows x cols] at column j, rows in order. */
static void column_sums(int rows, int cols, const float *x, bool add, float *sum)
{
  if (!add) memset(sum, 0, (size_t)cols * sizeof(float));
  for (int i = 0; i < rows; i++) {
    const float *row = x + (size_t)i * (size_t)cols;
    for (int j = 0; j < cols; j++) sum[j] += row[j];
  }
}

/* Per block: the conv output's gradient (the pooling's backward, from the forward's codes) into
 * the range's first block of scratch, then from it, while in cache, the weight and bias gradients (added onto the
 * blocks' before) and the patches' gradient (into the range's first block of cols, whose patches
 * the first block's weight gradient has read) for col2im. Whole-batch, that gradient (12.8 MB
 * for the cnn preset's first conv) went to memory and was read back by each GEMM. */
void dpt_cpu_conv_pool_bwd(const dpt_conv_pool *p, const float *dy, float *gw, float *gb,
                           float *dx, int r0, int r1)
{
  const dpt_image g = p->g, c = dpt_conv_pool_image(p);
  const size_t pixels = patch_pixels(g), width = patch_width(g);
  const size_t pooled = pooled_floats(p);
  const int block = dpt_cpu_conv_pool_block_images(p), out_c = p->out_c;
  float *d = p->scratch + (size_t)r0 * image_floats(c.h, c.w, c.c);
  float *patch_grad = p->cols + (size_t)r0 * pixels * width;
  if (r0 == r1) {
    memset(gw, 0, (size_t)out_c * width * sizeof(float));
    memset(gb, 0, (size_t)out_c * sizeof(float));
  }
  for (int b0 = r0; b0 < r1; b0 += block) {
    int n = r1 - b0 < block ? r1 - b0 : block, m = n * (int)pixels;
    bool add = b0 > r0;
    dpt_cpu_maxpool_bwd_coded(c, (const uint8_t *)p->conv_y + (size_t)b0 * pooled,
                              dy + (size_t)b0 * pooled, d, 0, n);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out_c, (int)width, m, 1.f, d, out_c,
                p->cols + (size_t)b0 * pixels * width, (int)width, add ? 1.f : 0.f, gw,
                (int)width);
    column_sums(m, out_c, d, add, gb);
    if (!dx) continue;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, (int)width, out_c, 1.f, d, out_c,
                p->w, (int)width, 0.f, patch_grad, (int)width);
    dpt_cpu_col2im(g, patch_grad, dx + (size_t)b0 * image_floats(g.h, g.w, g.c), 0, n);
  }
}
