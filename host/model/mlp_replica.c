/* A model replica on one device: its buffers and the forward/backward passes. */
#include <stdint.h>
#include <string.h>

#include "dpt/mlp.h"

static int max_width(const dpt_mlp_shape *s)
{
  int w = 0;
  for (int l = 1; l <= s->n_layers; l++)
    if (s->sizes[l] > w) w = s->sizes[l];
  return w;
}

/* A conv layer's im2col patch matrix: one row of K x K x C_in per output pixel. */
static size_t patch_pixels(const dpt_layer *y, int rows)
{
  return (size_t)rows * (size_t)y->out_h * (size_t)y->out_w;
}

static size_t patch_width(const dpt_layer *y)
{
  return (size_t)y->kernel * (size_t)y->kernel * (size_t)y->in_c;
}

/* Whether every conv's GEMM over `rows` rows has int sizes (its m is rows x output pixels). */
/* Whether fc layer l keeps its ReLU's mask: the fc after it reads it (dpt_dev_linear_bwd_data). */
static bool keeps_mask(const dpt_mlp_shape *s, int l)
{
  return s->layers[l].kind == DPT_LAYER_FC && s->layers[l].relu &&
         s->layers[l + 1].kind == DPT_LAYER_FC;
}

/* Whether layer l is a conv whose output goes straight into a max pooling: the two run as one
 * pair (dpt_dev_conv_pool_*). */
static bool pools_after(const dpt_mlp_shape *s, int l)
{
  return s->layers[l].kind == DPT_LAYER_CONV && l < s->n_layers &&
         s->layers[l + 1].kind == DPT_LAYER_MAXPOOL;
}

/* The widest output of a conv that a max pooling follows (0: none). */
static int pooled_conv_width(const dpt_mlp_shape *s)
{
  int w = 0;
  for (int l = 1; l <= s->n_layers; l++)
    if (pools_after(s, l) && s->sizes[l] > w) w = s->sizes[l];
  return w;
}

static bool patches_fit(const dpt_mlp_shape *s, int rows)
{
  for (int l = 1; l <= s->n_layers; l++)
    if (s->layers[l].kind == DPT_LAYER_CONV && patch_pixels(&s->layers[l], rows) > INT32_MAX)
      return false;
  return true;
}

int dpt_mlp_replica_create(dpt_device *dev, const dpt_mlp_shape *shape, int max_rows,
                           const float *params, dpt_mlp_replica *r, dpt_err *err)
{
  memset(r, 0, sizeof *r);
  r->dev = dev;
  r->shape = *shape;
  r->max_rows = max_rows;
  r->n_params = dpt_mlp_param_count(shape);
  size_t rows = (size_t)(max_rows > 0 ? max_rows : 1);
  size_t pbytes = r->n_params * sizeof(float);
  size_t wide = rows * (size_t)max_width(shape) * sizeof(float);
  int rc = dpt_dev_alloc(dev, pbytes, (void **)&r->params, err);
  for (int l = 0; l <= shape->n_layers && !rc; l++)
    rc = dpt_dev_alloc(dev, rows * (size_t)shape->sizes[l] * sizeof(float), (void **)&r->acts[l],
                       err);
  for (int i = 0; i < 2 && !rc; i++) rc = dpt_dev_alloc(dev, wide, (void **)&r->delta[i], err);
  if (!rc && pooled_conv_width(shape))
    rc = dpt_dev_alloc(dev, rows * (size_t)pooled_conv_width(shape) * sizeof(float),
                       (void **)&r->conv_grad, err);
  for (int l = 1; l < shape->n_layers && !rc; l++) {
    if (!keeps_mask(shape, l)) continue;
    size_t mask = dpt_dev_relu_mask_bytes(dev, (int)rows, shape->sizes[l]);
    if (mask) rc = dpt_dev_alloc(dev, mask, &r->relu_mask[l], err);
  }
  if (!rc && !patches_fit(shape, (int)rows))
    rc = dpt_err_set(err, DPT_EINPUT, "model: %zu rows per worker: a conv layer's patches "
                     "overflow its GEMM's int sizes (use a smaller --batch)", rows);
  for (int l = 1; l <= shape->n_layers && !rc; l++)
    if (shape->layers[l].kind == DPT_LAYER_CONV) /* under 2^53 once patches_fit held: exact */
      rc = dpt_dev_alloc(dev, (size_t)dpt_mlp_layer_patch_floats(shape, l, (double)rows) *
                                  sizeof(float),
                         (void **)&r->cols[l], err);
  if (!rc) rc = dpt_dev_alloc(dev, rows * sizeof(int32_t), (void **)&r->labels, err);
  if (!rc) rc = dpt_dev_alloc(dev, rows * sizeof(float), (void **)&r->row_loss, err);
  if (!rc) rc = dpt_dev_alloc(dev, rows * sizeof(int32_t), (void **)&r->row_argmax, err);
  if (!rc) rc = dpt_dev_host_alloc(dev, rows * sizeof(float), (void **)&r->host_loss, err);
  if (!rc) rc = dpt_dev_host_alloc(dev, rows * sizeof(int32_t), (void **)&r->host_argmax, err);
  if (!rc) rc = dpt_dev_host_alloc(dev, rows * sizeof(int32_t), (void **)&r->host_labels, err);
  if (!rc) rc = dpt_dev_copy_h2d(dev, r->params, params, pbytes, err);
  if (rc) dpt_mlp_replica_destroy(r);
  return rc;
}

void dpt_mlp_replica_destroy(dpt_mlp_replica *r)
{
  if (!r->dev) return;
  dpt_dev_free(r->dev, r->params);
  for (int l = 0; l <= r->shape.n_layers; l++) dpt_dev_free(r->dev, r->acts[l]);
  for (int i = 0; i < 2; i++) dpt_dev_free(r->dev, r->delta[i]);
  if (r->conv_grad) dpt_dev_free(r->dev, r->conv_grad);
  for (int l = 1; l < r->shape.n_layers; l++) dpt_dev_free(r->dev, r->relu_mask[l]);
  for (int l = 1; l <= r->shape.n_layers; l++)
    if (r->cols[l]) dpt_dev_free(r->dev, r->cols[l]);
  dpt_dev_free(r->dev, r->labels);
  dpt_dev_free(r->dev, r->row_loss);
  dpt_dev_free(r->dev, r->row_argmax);
  dpt_dev_host_free(r->dev, r->host_loss);
  dpt_dev_host_free(r->dev, r->host_argmax);
  dpt_dev_host_free(r->dev, r->host_labels);
  memset(r, 0, sizeof *r);
}

int dpt_mlp_load_rows(dpt_mlp_replica *r, int rows, const float *x, const int32_t *y,
                      dpt_err *err)
{
  if (rows < 0 || rows > r->max_rows)
    return dpt_err_set(err, DPT_EINTERNAL, "mlp: %d rows exceed the replica's %d", rows,
                       r->max_rows);
  if (rows == 0) return DPT_OK;
  memcpy(r->host_labels, y, (size_t)rows * sizeof(int32_t)); /* for scoring on the host */
  int rc = dpt_dev_copy_h2d(r->dev, r->acts[0], x,
                            (size_t)rows * (size_t)r->shape.sizes[0] * sizeof(float), err);
  return rc ? rc : dpt_dev_copy_h2d(r->dev, r->labels, y, (size_t)rows * sizeof(int32_t), err);
}

static dpt_image layer_input(const dpt_layer *y, int rows)
{
  return (dpt_image){.rows = rows, .h = y->in_h, .w = y->in_w, .c = y->in_c, .k = y->kernel};
}

/* acts[l] from acts[l-1]: an fc is acts[l-1] W^T; a conv the same GEMM over every output
 * pixel's patch row; then bias and the fused ReLU. */
static int forward_layer(dpt_mlp_replica *r, int rows, int l, dpt_err *err)
{
  const dpt_mlp_shape *s = &r->shape;
  const dpt_layer *y = &s->layers[l];
  const float *w = r->params + dpt_mlp_weight_offset(s, l);
  const float *b = r->params + dpt_mlp_bias_offset(s, l);
  if (y->kind == DPT_LAYER_MAXPOOL)
    return dpt_dev_maxpool(r->dev, layer_input(y, rows), r->acts[l - 1], r->acts[l], err);
  if (y->kind == DPT_LAYER_CONV)
    return dpt_dev_conv_fwd(r->dev, layer_input(y, rows), y->out_c, r->acts[l - 1], w, b, y->relu,
                            r->cols[l], r->acts[l], r->relu_mask[l], err);
  return dpt_dev_linear_fwd(r->dev, rows, s->sizes[l - 1], s->sizes[l], r->acts[l - 1], w, b,
                            y->relu, r->acts[l], r->relu_mask[l], err);
}

/* Conv layer l and the max pooling after it (pools_after), with l's output kept in acts[l]. */
static dpt_conv_pool conv_pool_at(const dpt_mlp_replica *r, int rows, int l)
{
  const dpt_mlp_shape *s = &r->shape;
  const dpt_layer *y = &s->layers[l];
  return (dpt_conv_pool){.g = layer_input(y, rows), .out_c = y->out_c,
                         .pool = s->layers[l + 1].kernel, .relu = y->relu,
                         .w = r->params + dpt_mlp_weight_offset(s, l),
                         .bias = r->params + dpt_mlp_bias_offset(s, l), .cols = r->cols[l],
                         .conv_y = r->acts[l], .scratch = r->conv_grad};
}

static int forward_layers(dpt_mlp_replica *r, int rows, dpt_err *err)
{
  int rc = DPT_OK;
  for (int l = 1; l <= r->shape.n_layers && !rc; l++) {
    if (!pools_after(&r->shape, l)) {
      rc = forward_layer(r, rows, l, err);
      continue;
    }
    dpt_conv_pool p = conv_pool_at(r, rows, l);
    rc = dpt_dev_conv_pool_fwd(r->dev, &p, r->acts[l - 1], r->acts[l + 1], err);
    l++; /* the pooling ran too */
  }
  return rc;
}

/* Sums losses in row order and counts correct predictions, on the host. */
static void score_rows(dpt_mlp_replica *r, int rows, dpt_mlp_pass *out)
{
  double sum = 0;
  int correct = 0;
  for (int i = 0; i < rows; i++) {
    sum += r->host_loss[i];
    correct += r->host_argmax[i] == r->host_labels[i];
  }
  out->loss_sum = sum;
  out->correct = correct;
}

/* Loss, predictions and dlogits (into delta[0]), scored on the host unless out is NULL. */
static int loss_layer(dpt_mlp_replica *r, int rows, float grad_scale, dpt_mlp_pass *out,
                      dpt_err *err)
{
  const dpt_mlp_shape *s = &r->shape;
  int rc = dpt_dev_softmax_xent(r->dev, rows, s->sizes[s->n_layers], r->acts[s->n_layers],
                                r->labels, grad_scale, r->delta[0], r->row_loss, r->row_argmax,
                                err);
  if (rc || !out) return rc;
  rc = dpt_dev_copy_d2h(r->dev, r->host_loss, r->row_loss, (size_t)rows * sizeof(float), err);
  if (!rc)
    rc = dpt_dev_copy_d2h(r->dev, r->host_argmax, r->row_argmax, (size_t)rows * sizeof(int32_t),
                          err);
  if (rc) return rc;
  score_rows(r, rows, out);
  return DPT_OK;
}

/* Layer l's parameter gradients from d (the gradient w.r.t. its output, after its ReLU's mask),
 * and, unless l is the first, the gradient w.r.t. its input into prev, through the ReLU fused
 * into layer l - 1 (whose output acts[l-1] is):
 *   fc:   dW = d^T acts[l-1], db = column sums of d, prev = d W (the ReLU's mask in the same
 *         call where the device keeps one, dpt_dev_linear_bwd_data);
 *   conv: the same over the forward's patch rows, prev = col2im(d W);
 *   maxpool: no parameters, prev = d routed to each window's argmax. */
static int backward_layer(dpt_mlp_replica *r, int rows, int l, const float *d, float *prev,
                          float *grads, dpt_err *err)
{
  const dpt_mlp_shape *s = &r->shape;
  const dpt_layer *y = &s->layers[l];
  bool below_relu = l > 1 && s->layers[l - 1].relu;
  size_t below = (size_t)rows * (size_t)s->sizes[l - 1];
  if (y->kind == DPT_LAYER_MAXPOOL) /* the ReLU below in the same pass */
    return l > 1 ? dpt_dev_maxpool_bwd(r->dev, layer_input(y, rows), below_relu, r->acts[l - 1], d,
                                       prev, err)
                 : DPT_OK;
  const float *w = r->params + dpt_mlp_weight_offset(s, l);
  float *gw = grads + dpt_mlp_weight_offset(s, l);
  float *gb = grads + dpt_mlp_bias_offset(s, l);
  int m = rows, in = s->sizes[l - 1], out = s->sizes[l];
  float *a = r->acts[l - 1];
  if (y->kind == DPT_LAYER_CONV) {
    m = (int)patch_pixels(y, rows);
    in = (int)patch_width(y);
    out = y->out_c;
    a = r->cols[l]; /* the forward's patches, then scratch for their gradient */
  }
  int rc = dpt_dev_linear_bwd_weights(r->dev, m, in, out, d, a, gw, gb, err);
  if (rc || l == 1) return rc;
  if (y->kind == DPT_LAYER_FC && below_relu)
    return dpt_dev_linear_bwd_data(r->dev, m, in, out, d, w, r->acts[l - 1], r->relu_mask[l - 1],
                                   prev, err);
  rc = y->kind == DPT_LAYER_CONV
           ? dpt_dev_conv_bwd_data(r->dev, layer_input(y, rows), out, d, w, r->cols[l], prev, err)
           : dpt_dev_gemm(r->dev, false, false, m, in, out, 1.f, d, out, w, in, 0.f, prev, in, err);
  return rc || !below_relu ? rc : dpt_dev_relu_bwd(r->dev, below, r->acts[l - 1], prev, prev, err);
}

/* The backward of conv layer l and the max pooling after it, from d (the pooling output's
 * gradient): l's gradients, and prev as backward_layer leaves it for layer l. */
static int backward_conv_pool(dpt_mlp_replica *r, int rows, int l, const float *d, float *prev,
                              float *grads, dpt_err *err)
{
  const dpt_mlp_shape *s = &r->shape;
  dpt_conv_pool p = conv_pool_at(r, rows, l);
  int rc = dpt_dev_conv_pool_bwd(r->dev, &p, d, grads + dpt_mlp_weight_offset(s, l),
                                 grads + dpt_mlp_bias_offset(s, l), l > 1 ? prev : NULL, err);
  if (rc || l == 1 || !s->layers[l - 1].relu) return rc;
  return dpt_dev_relu_bwd(r->dev, (size_t)rows * (size_t)s->sizes[l - 1], r->acts[l - 1], prev,
                          prev, err);
}

static int backward_layers(dpt_mlp_replica *r, int rows, float *grads, dpt_err *err)
{
  const dpt_mlp_shape *s = &r->shape;
  int cur = 0; /* delta[cur] holds the gradient w.r.t. layer l's output */
  for (int l = s->n_layers; l >= 1; l--) {
    float *prev = r->delta[1 - cur];
    bool pair = l > 1 && pools_after(s, l - 1);
    int rc = pair ? backward_conv_pool(r, rows, --l, r->delta[cur], prev, grads, err)
                  : backward_layer(r, rows, l, r->delta[cur], prev, grads, err);
    if (rc) return rc;
    cur = 1 - cur;
  }
  return DPT_OK;
}

int dpt_mlp_forward_backward(dpt_mlp_replica *r, int rows, float grad_scale, float *grads,
                             dpt_mlp_pass *out, dpt_err *err)
{
  if (out) *out = (dpt_mlp_pass){0};
  if (rows == 0) return dpt_dev_zero(r->dev, grads, r->n_params * sizeof(float), err);
  int rc = forward_layers(r, rows, err);
  if (!rc) rc = loss_layer(r, rows, grad_scale, out, err);
  return rc ? rc : backward_layers(r, rows, grads, err);
}

int dpt_mlp_forward(dpt_mlp_replica *r, int rows, dpt_mlp_pass *out, dpt_err *err)
{
  out->loss_sum = 0;
  out->correct = 0;
  if (rows == 0) return DPT_OK;
  int rc = forward_layers(r, rows, err);
  return rc ? rc : loss_layer(r, rows, 0.f, out, err);
}
