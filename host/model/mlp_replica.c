/* A model replica on one device: its buffers and the forward/backward passes. */
#include <string.h>

#include "dpt/mlp.h"

static int max_width(const dpt_mlp_shape *s)
{
  int w = 0;
  for (int l = 1; l <= s->n_layers; l++)
    if (s->sizes[l] > w) w = s->sizes[l];
  return w;
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
  for (int l = 1; l < shape->n_layers && !rc; l++) {
    size_t mask = dpt_dev_relu_mask_bytes(dev, (int)rows, shape->sizes[l]);
    if (mask) rc = dpt_dev_alloc(dev, mask, &r->relu_mask[l], err);
  }
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
  for (int l = 1; l < r->shape.n_layers; l++) dpt_dev_free(r->dev, r->relu_mask[l]);
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

static int forward_layers(dpt_mlp_replica *r, int rows, dpt_err *err)
{
  const dpt_mlp_shape *s = &r->shape;
  for (int l = 1; l <= s->n_layers; l++) {
    int in = s->sizes[l - 1], out = s->sizes[l];
    const float *w = r->params + dpt_mlp_weight_offset(s, l);
    const float *b = r->params + dpt_mlp_bias_offset(s, l);
    /* acts[l] = acts[l-1] * W^T, then bias and (except on the last layer) ReLU. */
    int rc = dpt_dev_linear_fwd(r->dev, rows, in, out, r->acts[l - 1], w, b, l < s->n_layers,
                                r->acts[l], r->relu_mask[l], err);
    if (rc) return rc;
  }
  return DPT_OK;
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

static int backward_layers(dpt_mlp_replica *r, int rows, float *grads, dpt_err *err)
{
  const dpt_mlp_shape *s = &r->shape;
  int cur = 0; /* delta[cur] holds the gradient w.r.t. layer l's pre-activation output */
  for (int l = s->n_layers; l >= 1; l--) {
    int in = s->sizes[l - 1], out = s->sizes[l];
    const float *w = r->params + dpt_mlp_weight_offset(s, l);
    float *gw = grads + dpt_mlp_weight_offset(s, l);
    float *gb = grads + dpt_mlp_bias_offset(s, l);
    const float *d = r->delta[cur];
    /* dW = d^T * acts[l-1]; db = column sums of d. */
    int rc = dpt_dev_linear_bwd_weights(r->dev, rows, in, out, d, r->acts[l - 1], gw, gb, err);
    if (!rc && l > 1) {
      /* d_prev = d * W, masked by the previous layer's ReLU. */
      float *prev = r->delta[1 - cur];
      rc = dpt_dev_linear_bwd_data(r->dev, rows, in, out, d, w, r->acts[l - 1],
                                   r->relu_mask[l - 1], prev, err);
      cur = 1 - cur;
    }
    if (rc) return rc;
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
