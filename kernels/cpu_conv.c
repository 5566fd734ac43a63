/* A conv's passes a block of images at a time, each block's ops back to back while its patches
 * are in the core's cache. Whole-batch, the cnn preset's second conv wrote its 29 MB patch
 * gradient to memory (OpenBLAS first zeroing it, for beta = 0) and col2im read it back; its
 * forward's GEMM read 29 MB of patches that im2col had just written, and bias_act made one more
 * pass over the output. */
#include "kernels/cpu_conv.h"

#include <cblas.h>

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

int dpt_cpu_conv_block_images(dpt_image g)
{
  size_t per_image = patch_pixels(g) * patch_width(g);
  size_t n = per_image ? CONV_BLOCK_FLOATS / per_image : 1;
  return n < 1 ? 1 : n > (size_t)g.rows ? (g.rows > 0 ? g.rows : 1) : (int)n;
}

/* Each block's patches are kept where the whole batch's would be, for the weight gradient. */
void dpt_cpu_conv_fwd(dpt_image g, int out_c, const float *x, const float *w, const float *bias,
                      bool relu, float *cols, float *y, int r0, int r1)
{
  const size_t pixels = patch_pixels(g), width = patch_width(g);
  const int block = dpt_cpu_conv_block_images(g);
  for (int b0 = r0; b0 < r1; b0 += block) {
    int n = r1 - b0 < block ? r1 - b0 : block, m = n * (int)pixels;
    float *patches = cols + (size_t)b0 * pixels * width;
    float *out = y + (size_t)b0 * pixels * (size_t)out_c;
    dpt_cpu_im2col(g, x + (size_t)b0 * image_floats(g.h, g.w, g.c), patches, 0, n);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, out_c, (int)width, 1.f, patches,
                (int)width, w, (int)width, 0.f, out, out_c);
    dpt_cpu_bias_act_rows(m, out_c, bias, relu, out);
  }
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
