/* The CPU backend: OpenBLAS for gemm and column sums, plain loops around the kn_ bodies for the
 * rest (the compiler vectorizes them), the image ops' loops in cpu_image.c. "Device" memory is
 * host memory; every op is synchronous. A device with several threads splits its GEMMs and image
 * ops by rows over its own pool (cpu_pool.h), each part a one-thread OpenBLAS call. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dpt/device.h"
#include "dpt/mem_room.h"
#include "kernels/backends.h"
#include "kernels/cpu_bias_act.h"
#include "kernels/cpu_conv.h"
#include "kernels/cpu_image.h"
#include "kernels/cpu_pool.h"
#include "kernels/kn_ledger.h"
#include "kernels/kn_math.h"
#include "kernels/op_check.h"

enum { CPU_ALIGN = 64 }; /* a cache line, and wide enough for any vector load */

typedef struct cpu_ctx {
  int index;
  /* All ones, ones_len long: col_sum is a gemv with it, which measured 1.7x faster than a loop
   * over rows at 256 x 512 (OpenBLAS's kernels use wider vectors than the portable build). */
  float *ones;
  size_t ones_len;
  cpu_pool *pool; /* the image ops' helper threads; NULL: one thread */
  /* The weight and bias gradients of the pool's parts but the first (conv_pool_bwd), summed
   * into the first's in part order after the run. */
  float *partials;
  size_t partials_len;
} cpu_ctx;

static void cpu_destroy(void *ctx)
{
  cpu_ctx *c = ctx;
  cpu_pool_close(c->pool);
  free(c->ones);
  free(c->partials);
  free(c);
}

/* Rounds up to whole cache lines: aligned_alloc wants a multiple of the alignment. */
static int cpu_alloc(void *ctx, size_t bytes, void **out, dpt_err *err)
{
  int rc = dpt_check_alloc("cpu alloc", out, err);
  if (rc) return rc;
  *out = NULL;
  if (bytes > SIZE_MAX - CPU_ALIGN)
    return dpt_err_set(err, DPT_ENOMEM, "cpu alloc: %zu bytes is too large", bytes);
  size_t rounded = bytes ? (bytes + CPU_ALIGN - 1) / CPU_ALIGN * CPU_ALIGN : CPU_ALIGN;
  *out = aligned_alloc(CPU_ALIGN, rounded);
  if (!*out) return dpt_err_set(err, DPT_ENOMEM, "cpu alloc: out of memory for %zu bytes", bytes);
  return DPT_OK;
}

static void cpu_free(void *ctx, void *p) { free(p); }

static int cpu_copy(const char *where, void *dst, const void *src, size_t bytes, dpt_err *err)
{
  int rc = dpt_check_copy(where, bytes, dst, src, err);
  if (!rc && bytes) memcpy(dst, src, bytes);
  return rc;
}

static int cpu_copy_h2d(void *ctx, void *dst, const void *src, size_t bytes, dpt_err *err)
{
  return cpu_copy("cpu copy_h2d", dst, src, bytes, err);
}

static int cpu_copy_d2h(void *ctx, void *dst, const void *src, size_t bytes, dpt_err *err)
{
  return cpu_copy("cpu copy_d2h", dst, src, bytes, err);
}

static int cpu_copy_d2d(void *ctx, void *dst, const void *src, size_t bytes, dpt_err *err)
{
  return cpu_copy("cpu copy_d2d", dst, src, bytes, err);
}

static int cpu_zero(void *ctx, void *p, size_t bytes, dpt_err *err)
{
  int rc = dpt_check_zero("cpu zero", bytes, p, err);
  if (!rc && bytes) memset(p, 0, bytes);
  return rc;
}

static int cpu_sync(void *ctx, dpt_err *err) { return DPT_OK; }

/* A GEMM's arguments, for its parts (rows or columns of C) on the pool's threads. */
typedef struct gemm_args {
  bool ta, tb;
  int m, n, k;
  float alpha, beta;
  const float *a, *b;
  float *c;
  int lda, ldb, ldc;
} gemm_args;

/* Rows [r0, r1) of C: the rows of op(a) are a's rows, or its columns when ta. OpenBLAS's kernels
 * treat a call's last rows apart, so the bits depend on the cut (fixed for a device's pool). */
static void gemm_rows(const void *p, int r0, int r1)
{
  const gemm_args *g = p;
  const float *a = g->ta ? g->a + r0 : g->a + (size_t)r0 * (size_t)g->lda;
  cblas_sgemm(CblasRowMajor, g->ta ? CblasTrans : CblasNoTrans, g->tb ? CblasTrans : CblasNoTrans,
              r1 - r0, g->n, g->k, g->alpha, a, g->lda, g->b, g->ldb, g->beta,
              g->c + (size_t)r0 * (size_t)g->ldc, g->ldc);
}

/* Columns [c0, c1) of C: the columns of op(b) are b's columns, or its rows when tb. */
static void gemm_cols(const void *p, int c0, int c1)
{
  const gemm_args *g = p;
  const float *b = g->tb ? g->b + (size_t)c0 * (size_t)g->ldb : g->b + c0;
  cblas_sgemm(CblasRowMajor, g->ta ? CblasTrans : CblasNoTrans, g->tb ? CblasTrans : CblasNoTrans,
              g->m, c1 - c0, g->k, g->alpha, g->a, g->lda, b, g->ldb, g->beta, g->c + c0, g->ldc);
}

/* Below this many multiply-adds a GEMM runs on the calling thread: waking a helper costs more. */
#define GEMM_SPLIT_MIN_MACS (1 << 20)

/* Every part packs the whole of the operand it does not cut, so the GEMM is cut along C's longer
 * side: cut by rows, a conv's weight gradient (C of 64 x 288, k the batch's pixels) had each
 * thread pack the whole patch matrix. */
static int cpu_gemm(void *ctx, bool ta, bool tb, int m, int n, int k, float alpha, const float *a,
                    int lda, const float *b, int ldb, float beta, float *c, int ldc, dpt_err *err)
{
  int rc = dpt_check_gemm("cpu gemm", ta, tb, m, n, k, a, lda, b, ldb, c, ldc, err);
  if (rc) return rc;
  gemm_args g = {.ta = ta, .tb = tb, .m = m, .n = n, .k = k, .alpha = alpha, .beta = beta,
                 .a = a, .b = b, .c = c, .lda = lda, .ldb = ldb, .ldc = ldc};
  /* OpenBLAS returns early on m or n = 0; with k = 0 it still applies beta to C, like cuBLAS. */
  cpu_pool *pool = (double)m * n * (k > 0 ? k : 1) < GEMM_SPLIT_MIN_MACS ? NULL
                                                                          : ((cpu_ctx *)ctx)->pool;
  return n > m ? cpu_pool_run(pool, gemm_cols, &g, n, err)
               : cpu_pool_run(pool, gemm_rows, &g, m, err);
}

/* *buf of *len floats grown to at least n (its contents then undefined); *grown says whether. */
static int ensure_floats(cpu_ctx *c, float **buf, size_t *len, size_t n, bool *grown,
                         dpt_err *err)
{
  *grown = n > *len;
  if (!*grown) return DPT_OK;
  void *p;
  int rc = cpu_alloc(c, n * sizeof(float), &p, err);
  if (rc) return rc;
  free(*buf);
  *buf = p;
  *len = n;
  return DPT_OK;
}

static int ensure_ones(cpu_ctx *c, size_t n, dpt_err *err)
{
  bool grown;
  int rc = ensure_floats(c, &c->ones, &c->ones_len, n, &grown, err);
  for (size_t i = 0; !rc && grown && i < n; i++) kn_fill_at(i, 1.f, c->ones);
  return rc;
}

/* rows or cols = 0 leaves y as it is (BLAS's quick return, which cuBLAS shares). */
static int cpu_col_sum(void *ctx, int rows, int cols, float alpha, const float *x, float beta,
                       float *y, dpt_err *err)
{
  int rc = dpt_check_col_sum("cpu col_sum", rows, cols, x, y, err);
  if (rc || rows == 0 || cols == 0) return rc;
  rc = ensure_ones(ctx, (size_t)rows, err);
  if (rc) return rc;
  /* y = alpha * x^T ones + beta * y */
  cblas_sgemv(CblasRowMajor, CblasTrans, rows, cols, alpha, x, cols, ((cpu_ctx *)ctx)->ones, 1,
              beta, y, 1);
  return DPT_OK;
}

static int cpu_bias_act(void *ctx, int rows, int cols, const float *bias, bool relu, float *y,
                        dpt_err *err)
{
  int rc = dpt_check_bias_act("cpu bias_act", rows, cols, bias, y, err);
  if (rc) return rc;
  dpt_cpu_bias_act_rows(rows, cols, bias, relu, y);
  return DPT_OK;
}

static int cpu_relu_bwd(void *ctx, size_t n, const float *y, const float *dy, float *dx,
                        dpt_err *err)
{
  int rc = dpt_check_relu_bwd("cpu relu_bwd", n, y, dy, dx, err);
  if (rc) return rc;
  for (size_t i = 0; i < n; i++) kn_relu_bwd_at(i, y, dy, dx);
  return DPT_OK;
}

static int cpu_softmax_xent(void *ctx, int rows, int cols, const float *logits,
                            const int32_t *labels, float grad_scale, float *dlogits,
                            float *row_loss, int32_t *row_argmax, dpt_err *err)
{
  int rc = dpt_check_softmax_xent("cpu softmax_xent", rows, cols, logits, labels, dlogits, row_loss,
                                  row_argmax, err);
  if (rc) return rc;
  /* Labels are host memory here, so their range is checked too (the CUDA backend cannot). */
  for (int r = 0; r < rows; r++)
    if (labels[r] < 0 || labels[r] >= cols)
      return dpt_err_set(err, DPT_EINTERNAL, "cpu softmax_xent: label %d of row %d outside [0, %d)",
                         (int)labels[r], r, cols);
  for (int r = 0; r < rows; r++)
    kn_softmax_xent_row(r, cols, logits, labels, grad_scale, dlogits, row_loss, row_argmax);
  return DPT_OK;
}

static int cpu_sgd_step(void *ctx, size_t n, float *params, const float *grads, float *velocity,
                        float lr, float momentum, float weight_decay, const float *skip_votes,
                        dpt_err *err)
{
  int rc = dpt_check_sgd_step("cpu sgd_step", n, params, grads, velocity, err);
  if (rc || (skip_votes && kn_step_skipped(*skip_votes))) return rc;
  for (size_t i = 0; i < n; i++)
    kn_sgd_step_at(i, params, grads, velocity, lr, momentum, weight_decay);
  return DPT_OK;
}

static int cpu_add(void *ctx, size_t n, const float *x, float *acc, dpt_err *err)
{
  int rc = dpt_check_add("cpu add", n, x, acc, err);
  if (rc) return rc;
  for (size_t i = 0; i < n; i++) kn_add_at(i, x, acc);
  return DPT_OK;
}

static int cpu_has_nonfinite(void *ctx, size_t n, const float *x, bool *out, dpt_err *err)
{
  int rc = dpt_check_has_nonfinite("cpu has_nonfinite", n, x, out, err);
  if (rc) return rc;
  int any = 0;
  for (size_t i = 0; i < n; i++) any |= kn_nonfinite_at(i, x); /* no early exit: vectorizes */
  *out = any != 0;
  return DPT_OK;
}

static int cpu_vote(void *ctx, size_t n, float *grads, const float *gate, dpt_err *err)
{
  float *tally = grads + n;
  for (int t = 0; t < DPT_TALLY_FLOATS; t++) tally[t] = 0.f;
  int any = *gate > 0.f;
  for (size_t i = 0; i < n; i++) any |= kn_nonfinite_at(i, grads); /* no early exit: vectorizes */
  if (any) tally[DPT_TALLY_SKIP] = tally[DPT_TALLY_OWN] = 1.f; /* as kn_vote_at writes them */
  return DPT_OK;
}

static int cpu_ledger_commit(void *ctx, dpt_ledger *ledger, const float *tally, int rows,
                             const float *row_loss, const int32_t *row_argmax,
                             const int32_t *labels, long step, int max_skips, bool nonfinite_stop,
                             dpt_err *err)
{
  kn_ledger_commit(ledger, tally, rows, row_loss, row_argmax, labels, (double)step, max_skips,
                   nonfinite_stop);
  return DPT_OK;
}

/* An image op's arguments, for its parts on the pool's threads. */
typedef struct image_args {
  dpt_image g;
  const float *in, *in2;
  float *out;
  bool relu;
} image_args;

static void im2col_rows(const void *p, int r0, int r1)
{
  const image_args *a = p;
  dpt_cpu_im2col(a->g, a->in, a->out, r0, r1);
}

static void col2im_rows(const void *p, int r0, int r1)
{
  const image_args *a = p;
  dpt_cpu_col2im(a->g, a->in, a->out, r0, r1);
}

static void maxpool_rows(const void *p, int r0, int r1)
{
  const image_args *a = p;
  dpt_cpu_maxpool(a->g, a->in, a->out, r0, r1);
}

static void maxpool_bwd_rows(const void *p, int r0, int r1)
{
  const image_args *a = p;
  dpt_cpu_maxpool_bwd(a->g, a->relu, a->in, a->in2, a->out, r0, r1);
}

static int cpu_im2col(void *ctx, dpt_image g, const float *x, float *cols, dpt_err *err)
{
  int rc = dpt_check_image("cpu im2col", g, false, x, cols, NULL, err);
  image_args a = {.g = g, .in = x, .out = cols};
  return rc ? rc : cpu_pool_run(((cpu_ctx *)ctx)->pool, im2col_rows, &a, g.rows, err);
}

static int cpu_col2im(void *ctx, dpt_image g, const float *dcols, float *dx, dpt_err *err)
{
  int rc = dpt_check_image("cpu col2im", g, false, dcols, dx, NULL, err);
  image_args a = {.g = g, .in = dcols, .out = dx};
  return rc ? rc : cpu_pool_run(((cpu_ctx *)ctx)->pool, col2im_rows, &a, g.rows, err);
}

static int cpu_maxpool(void *ctx, dpt_image g, const float *x, float *y, dpt_err *err)
{
  int rc = dpt_check_image("cpu maxpool", g, true, x, y, NULL, err);
  image_args a = {.g = g, .in = x, .out = y};
  return rc ? rc : cpu_pool_run(((cpu_ctx *)ctx)->pool, maxpool_rows, &a, g.rows, err);
}

static int cpu_maxpool_bwd(void *ctx, dpt_image g, bool relu, const float *x, const float *dy,
                           float *dx, dpt_err *err)
{
  int rc = dpt_check_image("cpu maxpool_bwd", g, true, x, dy, dx, err);
  image_args a = {.g = g, .in = x, .in2 = dy, .out = dx, .relu = relu};
  return rc ? rc : cpu_pool_run(((cpu_ctx *)ctx)->pool, maxpool_bwd_rows, &a, g.rows, err);
}

/* A conv's arguments, for its parts (images) on the pool's threads. */
typedef struct conv_args {
  dpt_image g;
  int out_c;
  const float *x, *w, *bias; /* x: the input (forward) or the output's gradient (backward) */
  bool relu;
  float *cols, *y;
} conv_args;

static void conv_fwd_rows(const void *p, int r0, int r1)
{
  const conv_args *a = p;
  dpt_cpu_conv_fwd(a->g, a->out_c, a->x, a->w, a->bias, a->relu, a->cols, a->y, r0, r1);
}

static void conv_bwd_data_rows(const void *p, int r0, int r1)
{
  const conv_args *a = p;
  dpt_cpu_conv_bwd_data(a->g, a->out_c, a->x, a->w, a->cols, a->y, r0, r1);
}

/* The GEMM of g's conv with out_c channels, checked as one whole-batch call would be. */
static int check_conv(const char *where, dpt_image g, int out_c, bool backward, const float *a,
                      const float *w, const float *c, dpt_err *err)
{
  int rc = dpt_check_image(where, g, false, a, w, c, err);
  if (rc) return rc;
  int pixels = (int)kn_patch_rows(g.rows, g.h, g.w, g.k), width = (int)kn_patch_width(g.c, g.k);
  return backward ? dpt_check_gemm(where, false, false, pixels, width, out_c, a, out_c, w, width,
                                   c, width, err)
                  : dpt_check_gemm(where, false, true, pixels, out_c, width, a, width, w, width,
                                   c, out_c, err);
}

static bool cpu_conv_fwd(void *ctx, dpt_image g, int out_c, const float *x, const float *w,
                         const float *bias, bool relu, float *cols, float *y, void *mask, int *rc,
                         dpt_err *err)
{
  if (mask) return false; /* the CPU keeps no ReLU mask */
  *rc = check_conv("cpu conv_fwd", g, out_c, false, cols, w, y, err);
  if (!*rc) *rc = dpt_check_image("cpu conv_fwd", g, false, x, cols, bias, err);
  conv_args a = {.g = g, .out_c = out_c, .x = x, .w = w, .bias = bias, .relu = relu,
                 .cols = cols, .y = y};
  if (!*rc) *rc = cpu_pool_run(((cpu_ctx *)ctx)->pool, conv_fwd_rows, &a, g.rows, err);
  return true;
}

static bool cpu_conv_bwd_data(void *ctx, dpt_image g, int out_c, const float *d, const float *w,
                              float *cols, float *dx, int *rc, dpt_err *err)
{
  *rc = check_conv("cpu conv_bwd_data", g, out_c, true, d, w, cols, err);
  if (!*rc) *rc = dpt_check_image("cpu conv_bwd_data", g, false, cols, dx, NULL, err);
  conv_args a = {.g = g, .out_c = out_c, .x = d, .w = w, .cols = cols, .y = dx};
  if (!*rc) *rc = cpu_pool_run(((cpu_ctx *)ctx)->pool, conv_bwd_data_rows, &a, g.rows, err);
  return true;
}

/* A conv_pool's arguments, for its parts on the pool's threads. */
typedef struct conv_pool_args {
  const dpt_conv_pool *p;
  const float *in; /* x (forward) or dy (backward) */
  float *out;      /* y (forward) or dx (backward) */
  float *gw, *gb, *partials;
  int parts;
} conv_pool_args;

static void conv_pool_fwd_rows(const void *p, int r0, int r1)
{
  const conv_pool_args *a = p;
  dpt_cpu_conv_pool_fwd(a->p, a->in, a->out, r0, r1);
}

static int conv_weights(const dpt_conv_pool *p)
{
  return p->out_c * (int)kn_patch_width(p->g.c, p->g.k);
}

/* Run over the parts themselves (k in [k0, k1)), each taking the images cpu_pool_run would give
 * it: part 0's gradients go to gw and gb, part k's to partials slot k - 1. */
static void conv_pool_bwd_parts(const void *p, int k0, int k1)
{
  const conv_pool_args *a = p;
  const int rows = a->p->g.rows, weights = conv_weights(a->p);
  for (int k = k0; k < k1; k++) {
    float *gw = k ? a->partials + (size_t)(k - 1) * (size_t)(weights + a->p->out_c) : a->gw;
    float *gb = k ? gw + weights : a->gb;
    dpt_cpu_conv_pool_bwd(a->p, a->in, gw, gb, a->out, (int)((long)rows * k / a->parts),
                          (int)((long)rows * (k + 1) / a->parts));
  }
}


static bool cpu_conv_pool_fwd(void *ctx, const dpt_conv_pool *p, const float *x, float *y,
                              int *rc, dpt_err *err)
{
  if (!dpt_cpu_conv_pool_coded(p)) return false;
  *rc = check_conv("cpu conv_pool_fwd", p->g, p->out_c, false, p->cols, p->w, p->scratch, err);
  if (!*rc) *rc = dpt_check_image("cpu conv_pool_fwd", p->g, false, x, p->cols, p->bias, err);
  if (!*rc)
    *rc = dpt_check_image("cpu conv_pool_fwd", dpt_conv_pool_image(p), true, p->conv_y, y,
                          p->scratch, err);
  conv_pool_args a = {.p = p, .in = x, .out = y};
  if (!*rc) *rc = cpu_pool_run(((cpu_ctx *)ctx)->pool, conv_pool_fwd_rows, &a, p->g.rows, err);
  return true;
}

/* Each part sums its own blocks' weight gradients; the parts' sums are added in part order, so
 * the bits are fixed by the device's thread count. */
static bool cpu_conv_pool_bwd(void *ctx, const dpt_conv_pool *p, const float *dy, float *gw,
                              float *gb, float *dx, int *rc, dpt_err *err)
{
  if (!dpt_cpu_conv_pool_coded(p)) return false;
  cpu_ctx *c = ctx;
  const char *where = "cpu conv_pool_bwd";
  const int pixels = (int)kn_patch_rows(p->g.rows, p->g.h, p->g.w, p->g.k);
  const int width = (int)kn_patch_width(p->g.c, p->g.k), weights = conv_weights(p);
  *rc = dpt_check_image(where, dpt_conv_pool_image(p), true, p->conv_y, dy, p->scratch, err);
  if (!*rc)
    *rc = dpt_check_gemm(where, true, false, p->out_c, width, pixels, p->scratch, p->out_c,
                         p->cols, width, gw, width, err);
  if (!*rc) *rc = dpt_check_col_sum(where, pixels, p->out_c, p->scratch, gb, err);
  if (!*rc && dx) *rc = check_conv(where, p->g, p->out_c, true, p->scratch, p->w, p->cols, err);
  if (!*rc && dx) *rc = dpt_check_image(where, p->g, false, p->cols, dx, NULL, err);
  const int parts = cpu_pool_threads(c->pool);
  const size_t slot = (size_t)weights + (size_t)p->out_c;
  bool grown;
  if (!*rc) *rc = ensure_floats(c, &c->partials, &c->partials_len, (size_t)(parts - 1) * slot,
                                &grown, err);
  conv_pool_args a = {.p = p, .in = dy, .out = dx, .gw = gw, .gb = gb, .partials = c->partials,
                      .parts = parts};
  if (!*rc) *rc = cpu_pool_run(c->pool, conv_pool_bwd_parts, &a, parts, err);
  for (int k = 1; k < parts && !*rc; k++) {
    const float *part = c->partials + (size_t)(k - 1) * slot;
    for (int i = 0; i < weights; i++) gw[i] += part[i];
    for (int i = 0; i < p->out_c; i++) gb[i] += part[weights + i];
  }
  return true;
}

static const dpt_device_ops cpu_ops = {
    .name = "cpu",
    .destroy = cpu_destroy,
    .alloc = cpu_alloc,
    .free = cpu_free,
    .host_alloc = cpu_alloc,
    .host_free = cpu_free,
    .copy_h2d = cpu_copy_h2d,
    .copy_d2h = cpu_copy_d2h,
    .copy_d2d = cpu_copy_d2d,
    .copy_d2h_queued = cpu_copy_d2h, /* each op runs as it is called */
    .zero = cpu_zero,
    .sync = cpu_sync,
    .gemm = cpu_gemm,
    .col_sum = cpu_col_sum,
    .bias_act = cpu_bias_act,
    .relu_bwd = cpu_relu_bwd,
    .softmax_xent = cpu_softmax_xent,
    .sgd_step = cpu_sgd_step,
    .add = cpu_add,
    .has_nonfinite = cpu_has_nonfinite,
    .vote = cpu_vote,
    .ledger_commit = cpu_ledger_commit,
    .im2col = cpu_im2col,
    .col2im = cpu_col2im,
    .maxpool = cpu_maxpool,
    .maxpool_bwd = cpu_maxpool_bwd,
    .conv_fwd = cpu_conv_fwd,
    .conv_bwd_data = cpu_conv_bwd_data,
    .conv_pool_fwd = cpu_conv_pool_fwd,
    .conv_pool_bwd = cpu_conv_pool_bwd,
};

/* blas_threads > 0 sets OpenBLAS's thread count for the whole process, not for this device:
 * OpenBLAS has one thread pool. Callers opening several CPU devices pass the same value. */
int dpt_cpu_backend_open(int index, const dpt_device_options *opts, dpt_device *out,
                         dpt_err *err)
{
  int blas_threads = opts->blas_threads;
  if (blas_threads < 0)
    return dpt_err_set(err, DPT_EINPUT, "cpu: BLAS thread count %d is negative", blas_threads);
  cpu_ctx *c = calloc(1, sizeof *c);
  if (!c) return dpt_err_set(err, DPT_ENOMEM, "cpu: out of memory for device %d", index);
  c->index = index;
  /* Several threads are the device's own pool's, which splits the GEMMs and the image ops by
   * rows: OpenBLAS's own pool, which would spin in sched_yield on the second core through every
   * op between two GEMMs, gets one thread. */
  int rc = cpu_pool_open(blas_threads, opts->wait_s, &c->pool, err);
  if (rc) {
    free(c);
    return rc;
  }
  if (blas_threads > 0) openblas_set_num_threads(c->pool ? 1 : blas_threads);
  *out = (dpt_device){.vt = &cpu_ops, .ctx = c, .kind = DPT_DEVICE_CPU, .index = index};
  return DPT_OK;
}

/* OpenBLAS 0.3 maps one work buffer of 128 MiB (its BUFFER_SIZE on x86-64; 128 MiB + 4 KiB
 * when it falls back to malloc) for every thread that runs a GEMM: each calling thread, and each
 * thread of its pool when that thread starts. A mapping that fails is retried for ever, at full
 * CPU, so a run weighs these before its first GEMM (host/train/run_memory.c). The threads of the
 * pool that started with the library hold theirs already; raising the thread count starts new
 * ones. Measured: /proc/PID/maps of a run shows one 128 MiB mapping per BLAS thread. */
#define OPENBLAS_BUFFER (((size_t)128 << 20) + 4096)

int dpt_cpu_backend_threads(void) { return openblas_get_num_threads(); }

/* With several threads a device runs its own pool (cpu_pool.h), whose helpers each call the GEMMs
 * and so map a work buffer, and OpenBLAS's pool starts no thread. */
size_t dpt_cpu_backend_reserve(int workers, int blas_threads)
{
  int running = openblas_get_num_threads();
  size_t helpers = (size_t)workers * (size_t)cpu_pool_helpers(blas_threads);
  size_t started = helpers == 0 && blas_threads > running ? (size_t)(blas_threads - running) : 0;
  return (size_t)workers * OPENBLAS_BUFFER +
         (started + helpers) * (OPENBLAS_BUFFER + dpt_thread_stack_bytes());
}

void dpt_cpu_backend_blas(char *buf, size_t size)
{
  /* openblas_get_config() starts "OpenBLAS 0.3.21 ...": the library loaded, not the header. The
   * core name is the kernel set a DYNAMIC_ARCH build picked for this CPU (or OPENBLAS_CORETYPE). */
  char name[32] = "", version[32] = "";
  if (sscanf(openblas_get_config(), "%31s %31s", name, version) != 2)
    snprintf(version, sizeof version, "?");
  snprintf(buf, size, "OpenBLAS %s, kernel %s", version, openblas_get_corename());
}

void dpt_cpu_backend_summary(char *buf, size_t size)
{
  char blas[128];
  dpt_cpu_backend_blas(blas, sizeof blas);
  int threads = openblas_get_num_threads();
  snprintf(buf, size, "cpu (%s, %d thread%s)", blas, threads, threads == 1 ? "" : "s");
}
