/* Every device op on every device present, against the CPU backend on the same data (the way
 * ggml's test-backend-ops checks its backends): one table of op cases. A case makes its buffers
 * on the host, runs the op on the CPU backend and, through device copies, on the device, then
 * compares every buffer by one normalized error, NMSE = sum (got - want)^2 / sum want^2, against
 * the case's bound: 0 for element-wise ops (the same kn_ bodies, no contraction on either side),
 * small for those that sum in another order or use CUDA's expf/logf. The CPU backend itself is
 * checked against naive references in test_kernels.c. Where no device other than the CPU exists
 * the suites are inactive and the program exits 77: skipped, never passed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dpt/device.h"
#include "tests/lib/cuda_present.h"
#include "tests/lib/test_kernels_ref.h"
#include "tests/lib/test_util.h"

enum { MAX_BUFS = 13, MAX_DEVICES = 16 };

/* Enough elements for a CUDA grid-stride loop to go round (4096 blocks of 256 threads). */
enum { BIG = (1 << 20) + (1 << 19) + 3 };

typedef enum {
  FILL_RANDOM,    /* floats uniform in [-1, 1) */
  FILL_SPARSE,    /* the same with every 7th element exactly 0 (relu_bwd: no gradient there) */
  FILL_LOGITS,    /* 8 x random, row 0 alternating +-1e4 (softmax's stability) */
  FILL_LABELS,    /* int32 labels below the case's cols */
  FILL_COARSE,    /* floats in {-1, -0.5, 0, 0.5}: max pooling's ties */
  FILL_UNSET,     /* an output: whatever the device leaves there is compared */
  FILL_SCRATCH,   /* the op's scratch: unset, and what it holds afterwards is not compared */
} buf_fill;

typedef struct op_buf {
  buf_fill fill;
  size_t count;
  bool i32; /* int32 elements (compared exactly), else float */
} op_buf;

typedef struct op_case op_case;
/* Runs the case's op on d over its buffers (host or device memory, as d wants). */
typedef int (*op_run)(const op_case *c, dpt_device *d, void *const *b, dpt_err *err);

struct op_case {
  const char *name;
  op_run run;
  int rows, cols;    /* the op's shape (n = rows x cols for element-wise ops) */
  bool flag;         /* bias_act: relu */
  float alpha, beta; /* col_sum */
  double max_nmse;   /* per float buffer */
  int n_bufs;
  op_buf bufs[MAX_BUFS];
};

static size_t elems(const op_case *c) { return (size_t)c->rows * (size_t)c->cols; }

static int run_bias_act(const op_case *c, dpt_device *d, void *const *b, dpt_err *err)
{
  return dpt_dev_bias_act(d, c->rows, c->cols, b[0], c->flag, b[1], err);
}

/* dx aliases dy, as the trainer calls it. */
static int run_relu_bwd(const op_case *c, dpt_device *d, void *const *b, dpt_err *err)
{
  return dpt_dev_relu_bwd(d, elems(c), b[0], b[1], b[1], err);
}

/* Three steps, so the velocity carries over. */
static int run_sgd_step(const op_case *c, dpt_device *d, void *const *b, dpt_err *err)
{
  int rc = 0;
  for (int step = 0; step < 3 && !rc; step++)
    rc = dpt_dev_sgd_step(d, elems(c), b[0], b[1], b[2], 0.05f, 0.9f, 1e-4f, NULL, err);
  return rc;
}

/* Four steps gated by skip votes the device reads from its memory (b[3]), as the allreduce
 * strategy steps: the second and fourth change nothing, on either device. */
static int run_sgd_step_skip_votes(const op_case *c, dpt_device *d, void *const *b, dpt_err *err)
{
  static const float votes[] = {0.f, 1.f, 0.f, 2.f};
  int rc = 0;
  for (int step = 0; step < 4 && !rc; step++) {
    rc = dpt_dev_copy_h2d(d, b[3], &votes[step], sizeof votes[step], err);
    if (!rc) rc = dpt_dev_sgd_step(d, elems(c), b[0], b[1], b[2], 0.05f, 0.9f, 1e-4f, b[3], err);
  }
  return rc;
}

static int run_add(const op_case *c, dpt_device *d, void *const *b, dpt_err *err)
{
  return dpt_dev_add(d, elems(c), b[0], b[1], err);
}

/* dlogits aliases logits, as the trainer calls it. */
static int run_softmax_xent(const op_case *c, dpt_device *d, void *const *b, dpt_err *err)
{
  return dpt_dev_softmax_xent(d, c->rows, c->cols, b[0], b[1], 1.f / (float)c->rows, b[0], b[2],
                              b[3], err);
}

static int run_col_sum(const op_case *c, dpt_device *d, void *const *b, dpt_err *err)
{
  return dpt_dev_col_sum(d, c->rows, c->cols, c->alpha, b[0], c->beta, b[1], err);
}

/* Two dense layers through the layer ops, as the model calls them: x -> h = ReLU(x W1^T + b1)
 * (keeping the ReLU's mask where the device keeps one) -> y = h W2^T + b2; then, from a gradient
 * dy of y, the second layer's weight and bias gradients and the gradient reaching h, masked by
 * h's ReLU. rows x cols is rows x in; the layers are in -> hidden (alpha) -> out (beta). */
enum { L_X, L_W1, L_B1, L_H, L_W2, L_B2, L_Y, L_DY, L_GW, L_GB, L_PREV };
static int run_dense_layers(const op_case *c, dpt_device *d, void *const *b, dpt_err *err)
{
  int rows = c->rows, in = c->cols, hidden = (int)c->alpha, out = (int)c->beta;
  size_t mask_bytes = dpt_dev_relu_mask_bytes(d, rows, hidden);
  void *mask = NULL;
  int rc = mask_bytes ? dpt_dev_alloc(d, mask_bytes, &mask, err) : 0;
  if (!rc)
    rc = dpt_dev_linear_fwd(d, rows, in, hidden, b[L_X], b[L_W1], b[L_B1], true, b[L_H], mask,
                            err);
  if (!rc)
    rc = dpt_dev_linear_fwd(d, rows, hidden, out, b[L_H], b[L_W2], b[L_B2], false, b[L_Y], NULL,
                            err);
  if (!rc)
    rc = dpt_dev_linear_bwd_weights(d, rows, hidden, out, b[L_DY], b[L_H], b[L_GW], b[L_GB], err);
  if (!rc)
    rc = dpt_dev_linear_bwd_data(d, rows, hidden, out, b[L_DY], b[L_W2], b[L_H], mask, b[L_PREV],
                                 err);
  if (!rc) rc = dpt_dev_sync(d, err);
  dpt_dev_free(d, mask);
  return rc;
}

#define F(fill, count) {fill, count, false}
/* Sums in another order than the CPU's BLAS where the device fuses: bounded like col_sum. */
#define DENSE_LAYERS(r, i, h, o)                                                                   \
  {"dense_layers", run_dense_layers, r, i, false, h, o, 1e-10, 11,                                 \
   {F(FILL_RANDOM, (size_t)(r) * (i)), F(FILL_RANDOM, (size_t)(h) * (i)), F(FILL_RANDOM, h),       \
    F(FILL_UNSET, (size_t)(r) * (h)), F(FILL_RANDOM, (size_t)(o) * (h)), F(FILL_RANDOM, o),        \
    F(FILL_UNSET, (size_t)(r) * (o)), F(FILL_RANDOM, (size_t)(r) * (o)),                           \
    F(FILL_UNSET, (size_t)(o) * (h)), F(FILL_UNSET, o), F(FILL_UNSET, (size_t)(r) * (h))}}

/* The conv and pooling ops' cases: an op case and the geometry its run reads. */
typedef struct image_case {
  op_case op; /* first: the run gets &op and finds the geometry behind it */
  dpt_image img;
} image_case;

static dpt_image geometry(const op_case *c) { return ((const image_case *)c)->img; }

static int run_im2col(const op_case *c, dpt_device *d, void *const *b, dpt_err *err)
{
  return dpt_dev_im2col(d, geometry(c), b[0], b[1], err);
}

static int run_col2im(const op_case *c, dpt_device *d, void *const *b, dpt_err *err)
{
  return dpt_dev_col2im(d, geometry(c), b[0], b[1], err);
}

static int run_maxpool(const op_case *c, dpt_device *d, void *const *b, dpt_err *err)
{
  return dpt_dev_maxpool(d, geometry(c), b[0], b[1], err);
}

/* dx starts random: the op's zeroing of what no window covers is compared too. Both with and
 * without the fused ReLU (x is FILL_COARSE: maxima of -1 and 0 that the ReLU stops). */
static int run_maxpool_bwd(const op_case *c, dpt_device *d, void *const *b, dpt_err *err)
{
  int rc = dpt_dev_maxpool_bwd(d, geometry(c), false, b[0], b[1], b[2], err);
  return rc ? rc : dpt_dev_maxpool_bwd(d, geometry(c), true, b[0], b[1], b[3], err);
}

/* A conv's forward with bias and ReLU (its mask kept where the device keeps one), as the model
 * calls it: the output and the patches kept for the weight gradient are compared. */
static int run_conv_fwd(const op_case *c, dpt_device *d, void *const *b, dpt_err *err)
{
  dpt_image g = geometry(c);
  int out_c = (int)c->alpha;
  size_t mask_bytes = dpt_dev_relu_mask_bytes(d, g.rows * g.h * g.w, out_c); /* odd k: same size */
  void *mask = NULL;
  int rc = mask_bytes ? dpt_dev_alloc(d, mask_bytes, &mask, err) : 0;
  if (!rc) rc = dpt_dev_conv_fwd(d, g, out_c, b[0], b[1], b[2], true, b[3], b[4], mask, err);
  if (!rc) rc = dpt_dev_sync(d, err);
  dpt_dev_free(d, mask);
  return rc;
}

/* A conv's input gradient, through the patches' buffer as scratch. */
static int run_conv_bwd_data(const op_case *c, dpt_device *d, void *const *b, dpt_err *err)
{
  return dpt_dev_conv_bwd_data(d, geometry(c), (int)c->alpha, b[0], b[1], b[2], b[3], err);
}

/* A conv (alpha output channels) and the max pooling after it (window beta), as the model calls
 * the pair: buffers x, w, bias, then the patches, the kept conv_y and the scratch. */
static dpt_conv_pool conv_pool_of(const op_case *c, bool relu, void *const *b)
{
  return (dpt_conv_pool){.g = geometry(c), .out_c = (int)c->alpha, .pool = (int)c->beta,
                         .relu = relu, .w = b[1], .bias = b[2], .cols = b[3], .conv_y = b[4],
                         .scratch = b[5]};
}

/* The output and the kept patches are compared; what conv_y keeps is the backend's own. */
static int run_conv_pool_fwd(const op_case *c, dpt_device *d, void *const *b, dpt_err *err)
{
  dpt_conv_pool p = conv_pool_of(c, true, b);
  return dpt_dev_conv_pool_fwd(d, &p, b[0], b[6], err);
}

/* Each backward after its forward (the kept conv_y is the backend's own): with the ReLU and an
 * input gradient, then without either (a model's first layer). */
static int run_conv_pool_bwd(const op_case *c, dpt_device *d, void *const *b, dpt_err *err)
{
  dpt_conv_pool p = conv_pool_of(c, true, b);
  int rc = dpt_dev_conv_pool_fwd(d, &p, b[0], b[6], err);
  if (!rc) rc = dpt_dev_conv_pool_bwd(d, &p, b[7], b[8], b[9], b[10], err);
  p.relu = false;
  if (!rc) rc = dpt_dev_conv_pool_fwd(d, &p, b[0], b[6], err);
  return rc ? rc : dpt_dev_conv_pool_bwd(d, &p, b[7], b[11], b[12], NULL, err);
}

/* Values of a batch of images, of its im2col patches, of its pooled images. */
#define IMAGE(r, h, w, c) ((size_t)(r) * (h) * (w) * (c))
#define SIDE(n, k) ((n) + 2 * ((k) / 2) - (k) + 1)
#define PATCHES(r, h, w, c, k) ((size_t)(r) * SIDE(h, k) * SIDE(w, k) * (k) * (k) * (c))
#define POOLED(r, h, w, c, k) ((size_t)(r) * ((h) / (k)) * ((w) / (k)) * (c))
#define WEIGHTS(c, k, o) ((size_t)(o) * (k) * (k) * (c))
/* Bound 0: copies, sums in one fixed order and comparisons round alike everywhere. */
#define IMG_CASE(op_name, fn, r, h, w, c, k, n, ...)                                               \
  {.op = {.name = op_name, .run = fn, .rows = r, .cols = c, .n_bufs = n, .bufs = {__VA_ARGS__}},   \
   .img = {r, h, w, c, k}}
#define IM2COL(r, h, w, c, k)                                                                      \
  IMG_CASE("im2col", run_im2col, r, h, w, c, k, 2, F(FILL_RANDOM, IMAGE(r, h, w, c)),              \
           F(FILL_UNSET, PATCHES(r, h, w, c, k)))
#define COL2IM(r, h, w, c, k)                                                                      \
  IMG_CASE("col2im", run_col2im, r, h, w, c, k, 2, F(FILL_RANDOM, PATCHES(r, h, w, c, k)),         \
           F(FILL_UNSET, IMAGE(r, h, w, c)))
#define MAXPOOL(r, h, w, c, k)                                                                     \
  IMG_CASE("maxpool", run_maxpool, r, h, w, c, k, 2, F(FILL_COARSE, IMAGE(r, h, w, c)),            \
           F(FILL_UNSET, POOLED(r, h, w, c, k))),                                                   \
  IMG_CASE("maxpool_bwd", run_maxpool_bwd, r, h, w, c, k, 4, F(FILL_COARSE, IMAGE(r, h, w, c)),    \
           F(FILL_RANDOM, POOLED(r, h, w, c, k)), F(FILL_RANDOM, IMAGE(r, h, w, c)),               \
           F(FILL_RANDOM, IMAGE(r, h, w, c)))

/* A conv of odd kernel k (the output as large as the input) with o output channels. The GEMMs
 * sum in another order where the CPU runs them a few images at a time: bounded like
 * dense_layers. */
#define CONV_CASE(op_name, fn, r, h, w, c, k, o, n, ...)                                           \
  {.op = {.name = op_name, .run = fn, .rows = r, .cols = c, .alpha = o, .max_nmse = 1e-10,         \
          .n_bufs = n, .bufs = {__VA_ARGS__}},                                                     \
   .img = {r, h, w, c, k}}
#define CONV(r, h, w, c, k, o)                                                                     \
  CONV_CASE("conv_fwd", run_conv_fwd, r, h, w, c, k, o, 5, F(FILL_RANDOM, IMAGE(r, h, w, c)),      \
            F(FILL_RANDOM, (size_t)(o) * (k) * (k) * (c)), F(FILL_RANDOM, o),                      \
            F(FILL_UNSET, PATCHES(r, h, w, c, k)), F(FILL_UNSET, IMAGE(r, h, w, o))),              \
  CONV_CASE("conv_bwd_data", run_conv_bwd_data, r, h, w, c, k, o, 4,                               \
            F(FILL_RANDOM, IMAGE(r, h, w, o)), F(FILL_RANDOM, (size_t)(o) * (k) * (k) * (c)),      \
            F(FILL_SCRATCH, PATCHES(r, h, w, c, k)), F(FILL_RANDOM, IMAGE(r, h, w, c)))

/* A conv of odd kernel k with o channels, then max pooling over p x p windows: x, w, bias; the
 * patches, the kept conv_y and the scratch; the pooled output; for the backward dy, then gw, gb,
 * dx, and gw, gb of the run without ReLU and dx. */
#define CONV_POOL_BUFS(r, h, w, c, k, o, p)                                                        \
  F(FILL_RANDOM, IMAGE(r, h, w, c)), F(FILL_RANDOM, WEIGHTS(c, k, o)), F(FILL_RANDOM, o),          \
      F(FILL_UNSET, PATCHES(r, h, w, c, k)), F(FILL_SCRATCH, IMAGE(r, h, w, o)),                   \
      F(FILL_SCRATCH, IMAGE(r, h, w, o)), F(FILL_UNSET, POOLED(r, h, w, o, p))
#define CONV_POOL(r, h, w, c, k, o, p)                                                             \
  {.op = {.name = "conv_pool_fwd", .run = run_conv_pool_fwd, .rows = r, .cols = c, .alpha = o,     \
          .beta = p, .max_nmse = 1e-10, .n_bufs = 7,                                               \
          .bufs = {CONV_POOL_BUFS(r, h, w, c, k, o, p)}},                                          \
   .img = {r, h, w, c, k}},                                                                        \
  {.op = {.name = "conv_pool_bwd", .run = run_conv_pool_bwd, .rows = r, .cols = c, .alpha = o,     \
          .beta = p, .max_nmse = 1e-10, .n_bufs = 13,                                              \
          .bufs = {CONV_POOL_BUFS(r, h, w, c, k, o, p), F(FILL_RANDOM, POOLED(r, h, w, o, p)),     \
                   F(FILL_UNSET, WEIGHTS(c, k, o)), F(FILL_UNSET, o), F(FILL_UNSET, IMAGE(r, h, w, c)), \
                   F(FILL_UNSET, WEIGHTS(c, k, o)), F(FILL_UNSET, o)}},                            \
   .img = {r, h, w, c, k}}

#define BIAS_ACT(r, c, relu)                                                                       \
  {"bias_act", run_bias_act, r, c, relu, 0, 0, 0, 2,                                                 \
   {F(FILL_RANDOM, c), F(FILL_RANDOM, (size_t)(r) * (c))}}

static const op_case op_cases[] = {
  BIAS_ACT(13, 37, false), BIAS_ACT(13, 37, true), BIAS_ACT(1, 1, true),
  BIAS_ACT(BIG / 31, 31, false), BIAS_ACT(BIG / 31, 31, true),
  {"relu_bwd", run_relu_bwd, 1, BIG, false, 0, 0, 0, 2, {F(FILL_SPARSE, BIG), F(FILL_RANDOM, BIG)}},
  {"sgd_step", run_sgd_step, 1, BIG, false, 0, 0, 0, 3,
   {F(FILL_RANDOM, BIG), F(FILL_RANDOM, BIG), F(FILL_RANDOM, BIG)}},
  {"sgd_step_skip_votes", run_sgd_step_skip_votes, 1, BIG, false, 0, 0, 0, 4,
   {F(FILL_RANDOM, BIG), F(FILL_RANDOM, BIG), F(FILL_RANDOM, BIG), F(FILL_RANDOM, 1)}},
  {"add", run_add, 1, BIG, false, 0, 0, 0, 2, {F(FILL_RANDOM, BIG), F(FILL_RANDOM, BIG)}},
  {"softmax_xent", run_softmax_xent, 1000, 10, false, 0, 0, 1e-10, 4,
   {F(FILL_LOGITS, 10000), {FILL_LABELS, 1000, true}, F(FILL_UNSET, 1000), {FILL_UNSET, 1000, true}}},
  /* Odd sizes; a hidden width above one 128-bit mask column; the reference model's shapes. */
  DENSE_LAYERS(13, 37, 29, 11), DENSE_LAYERS(7, 5, 130, 3), DENSE_LAYERS(128, 784, 512, 10),
};

static const image_case image_cases[] = {
  /* Odd sizes, several channels, padding at every border; an even kernel; a 1 x 1 one; enough
   * pixels for the grid-stride loops to go round (1400 x 28 x 28). */
  IM2COL(3, 7, 5, 3, 3), IM2COL(2, 6, 5, 2, 2), IM2COL(2, 4, 4, 3, 1), IM2COL(1400, 28, 28, 1, 3),
  COL2IM(3, 7, 5, 3, 3), COL2IM(2, 6, 5, 2, 2), COL2IM(1400, 28, 28, 1, 3),
  MAXPOOL(3, 7, 5, 4, 2), MAXPOOL(2, 9, 9, 3, 3), MAXPOOL(5500, 28, 28, 1, 2),
  /* Odd sizes and a wide kernel; the cnn preset's two convs, over several of the CPU's blocks
   * (of 18 images of 28 x 28 x 1 there, of 2 of 14 x 14 x 32). */
  CONV(3, 7, 5, 3, 5, 4), CONV(40, 28, 28, 1, 3, 32), CONV(9, 14, 14, 32, 3, 64),
  /* The pair: odd sizes that leave a row and a column unpooled, a 3 x 3 window; the cnn preset's
   * two pairs, over several of the CPU's blocks (of 4 and of 1 image there); a 16 x 16 window,
   * whose entries outnumber the CPU's codes (composed there too). */
  CONV_POOL(3, 7, 5, 3, 5, 4, 2), CONV_POOL(4, 9, 9, 2, 3, 3, 3), CONV_POOL(13, 28, 28, 1, 3, 32, 2),
  CONV_POOL(5, 14, 14, 32, 3, 64, 2), CONV_POOL(2, 17, 16, 1, 3, 2, 16),
};

/* col_sum over the shared shapes and scales (growing, then reusing, a backend's ones vector). */
static op_case col_sum_case(const ref_col_sum_case *s)
{
  size_t n = (size_t)s->rows * (size_t)s->cols;
  return (op_case){"col_sum", run_col_sum, s->rows, s->cols, false, s->alpha, s->beta, 1e-10, 2,
                   {F(FILL_RANDOM, n), F(FILL_RANDOM, (size_t)s->cols)}};
}

static void fill(const op_case *c, const op_buf *b, dpt_rng *rng, void *host)
{
  if (b->i32) {
    int32_t *x = host;
    for (size_t i = 0; i < b->count; i++)
      x[i] = b->fill == FILL_LABELS ? (int32_t)dpt_rng_below(rng, (uint64_t)c->cols) : -1;
    return;
  }
  float *x = host;
  if (b->fill == FILL_UNSET || b->fill == FILL_SCRATCH) {
    for (size_t i = 0; i < b->count; i++) x[i] = NAN;
    return;
  }
  ref_fill(rng, x, b->count, -1.f, 1.f);
  if (b->fill == FILL_COARSE)
    for (size_t i = 0; i < b->count; i++) x[i] = floorf(x[i] * 2.f) / 2.f;
  if (b->fill == FILL_SPARSE)
    for (size_t i = 0; i < b->count; i += 7) x[i] = 0.f;
  if (b->fill == FILL_LOGITS) {
    for (size_t i = 0; i < b->count; i++) x[i] *= 8.f;
    for (int j = 0; j < c->cols; j++) x[j] = j % 2 ? 1e4f : -1e4f;
  }
}

static double nmse(const float *got, const float *want, size_t n)
{
  double err = 0, norm = 0;
  for (size_t i = 0; i < n; i++) {
    double d = (double)got[i] - want[i];
    err += isnan(got[i]) != isnan(want[i]) ? INFINITY : isnan(want[i]) ? 0 : d * d;
    norm += isnan(want[i]) ? 0 : (double)want[i] * want[i];
  }
  return norm > 0 ? err / norm : err;
}

static size_t buf_bytes(const op_buf *b) { return b->count * (b->i32 ? sizeof(int32_t) : sizeof(float)); }

/* The case on the CPU backend and on dev; every buffer compared. */
static void check_case(const op_case *c, dpt_device *cpu, dpt_device *dev, dpt_rng *rng)
{
  void *want[MAX_BUFS], *got[MAX_BUFS], *on_dev[MAX_BUFS];
  dpt_err err = {0};
  for (int i = 0; i < c->n_bufs; i++) {
    size_t bytes = buf_bytes(&c->bufs[i]);
    want[i] = malloc(bytes);
    got[i] = malloc(bytes);
    CU_ASSERT_FATAL(want[i] && got[i]);
    fill(c, &c->bufs[i], rng, want[i]);
    CU_ASSERT_EQUAL_FATAL(dpt_dev_alloc(dev, bytes, &on_dev[i], &err), 0);
    CU_ASSERT_EQUAL_FATAL(dpt_dev_copy_h2d(dev, on_dev[i], want[i], bytes, &err), 0);
  }
  /* The copies may still be reading want (dpt/device.h): the CPU op below overwrites it. */
  CU_ASSERT_EQUAL_FATAL(dpt_dev_sync(dev, &err), 0);
  CU_ASSERT_EQUAL(c->run(c, cpu, want, &err), 0);
  CU_ASSERT_EQUAL(c->run(c, dev, on_dev, &err), 0);
  for (int i = 0; i < c->n_bufs; i++) {
    const op_buf *b = &c->bufs[i];
    CU_ASSERT_EQUAL(dpt_dev_copy_d2h(dev, got[i], on_dev[i], buf_bytes(b), &err), 0);
    double e = b->fill == FILL_SCRATCH ? 0
               : b->i32                ? (memcmp(got[i], want[i], buf_bytes(b)) ? INFINITY : 0)
                                       : nmse(got[i], want[i], b->count);
    if (!(e <= c->max_nmse))
      printf("\n  %s %dx%d%s: buffer %d NMSE %g > %g\n", c->name, c->rows, c->cols,
             c->flag ? " (flag)" : "", i, e, c->max_nmse);
    CU_ASSERT(e <= c->max_nmse);
    dpt_dev_free(dev, on_dev[i]);
    free(want[i]);
    free(got[i]);
  }
}

/* --- the devices present besides the CPU ------------------------------------------------------ */

static int n_devices;

static void open_pair(int index, dpt_device *cpu, dpt_device *dev)
{
  dpt_err err = {0};
  int rc = dpt_device_open(DPT_DEVICE_CPU, 0, 1, cpu, &err);
  if (!rc) rc = dpt_device_open(DPT_DEVICE_CUDA, index, 0, dev, &err);
  if (rc) printf("\n  %s\n", err.msg);
  CU_ASSERT_EQUAL_FATAL(rc, 0);
}

static void test_op_table(void)
{
  for (int d = 0; d < n_devices; d++) {
    dpt_device cpu, dev;
    open_pair(d, &cpu, &dev);
    dpt_rng rng;
    dpt_rng_seed(&rng, 31);
    for (size_t i = 0; i < sizeof op_cases / sizeof op_cases[0]; i++)
      check_case(&op_cases[i], &cpu, &dev, &rng);
    for (size_t i = 0; i < sizeof image_cases / sizeof image_cases[0]; i++)
      check_case(&image_cases[i].op, &cpu, &dev, &rng);
    for (const ref_col_sum_case *s = ref_col_sum_cases; s->rows >= 0; s++) {
      op_case c = col_sum_case(s);
      check_case(&c, &cpu, &dev, &rng);
    }
    dpt_device_close(&dev);
    dpt_device_close(&cpu);
  }
}

/* GEMM: the shared sweep of shapes, transposes and scales, the CPU backend's result as want. */
typedef struct gemm_pair {
  dpt_device cpu, dev;
} gemm_pair;

static int gemm_on_cpu(void *arg, const ref_gemm_data *g, float alpha, float beta, float *c)
{
  gemm_pair *p = arg;
  dpt_err err = {0};
  return dpt_dev_gemm(&p->cpu, g->ta, g->tb, g->m, g->n, g->k, alpha, g->a, g->lda, g->b, g->ldb,
                      beta, c, g->ldc, &err);
}

static void *upload(dpt_device *d, const void *data, size_t bytes)
{
  void *p = NULL;
  dpt_err err = {0};
  CU_ASSERT_EQUAL_FATAL(dpt_dev_alloc(d, bytes ? bytes : 1, &p, &err), 0);
  CU_ASSERT_EQUAL_FATAL(dpt_dev_copy_h2d(d, p, data, bytes, &err), 0);
  return p;
}

static int gemm_on_dev(void *arg, const ref_gemm_data *g, float alpha, float beta, float *c)
{
  gemm_pair *p = arg;
  dpt_err err = {0};
  float *a = upload(&p->dev, g->a, g->a_len * sizeof(float));
  float *b = upload(&p->dev, g->b, g->b_len * sizeof(float));
  float *dc = upload(&p->dev, c, g->c_len * sizeof(float));
  int rc = dpt_dev_gemm(&p->dev, g->ta, g->tb, g->m, g->n, g->k, alpha, a, g->lda, b, g->ldb,
                        beta, dc, g->ldc, &err);
  if (!rc) rc = dpt_dev_copy_d2h(&p->dev, c, dc, g->c_len * sizeof(float), &err);
  dpt_dev_free(&p->dev, a);
  dpt_dev_free(&p->dev, b);
  dpt_dev_free(&p->dev, dc);
  return rc;
}

static void test_gemm_sweep(void)
{
  for (int d = 0; d < n_devices; d++) {
    gemm_pair p;
    open_pair(d, &p.cpu, &p.dev);
    const float scales[][2] = {{1.25f, -0.5f}, {1.f, 0.f}};
    ref_gemm_sweep(21, scales, 2, gemm_on_dev, gemm_on_cpu, &p);
    dpt_device_close(&p.dev);
    dpt_device_close(&p.cpu);
  }
}

static void test_has_nonfinite(void)
{
  for (int d = 0; d < n_devices; d++) {
    dpt_device cpu, dev;
    open_pair(d, &cpu, &dev);
    ref_check_has_nonfinite(&dev);
    dpt_device_close(&dev);
    dpt_device_close(&cpu);
  }
}

int dpt_test_register(void)
{
  static const dpt_test_case ops[] = {DPT_TEST(test_op_table), DPT_TEST(test_gemm_sweep),
                                      DPT_TEST(test_has_nonfinite), DPT_TEST_END};
  int rc = dpt_test_add_suite("ops_on_every_device", ops);
  if (rc) return rc;
  static const char *const suites[] = {"ops_on_every_device"};
  n_devices = dpt_test_cuda_devices("test_ops", suites, 1);
  if (n_devices > MAX_DEVICES) n_devices = MAX_DEVICES;
  return CUE_SUCCESS;
}
