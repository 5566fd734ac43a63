/* The wrappers callers use: each forwards to the backend's table. Argument checks live in the
 * backends (kernels/op_check.h), so the wrappers stay one call on the hot path. */
#include "dpt/device.h"

int dpt_dev_alloc(dpt_device *d, size_t bytes, void **out, dpt_err *err)
{
  return d->vt->alloc(d->ctx, bytes, out, err);
}

void dpt_dev_free(dpt_device *d, void *p) { d->vt->free(d->ctx, p); }

int dpt_dev_host_alloc(dpt_device *d, size_t bytes, void **out, dpt_err *err)
{
  return d->vt->host_alloc(d->ctx, bytes, out, err);
}

void dpt_dev_host_free(dpt_device *d, void *p) { d->vt->host_free(d->ctx, p); }

int dpt_dev_copy_h2d(dpt_device *d, void *dst, const void *src, size_t bytes, dpt_err *err)
{
  return d->vt->copy_h2d(d->ctx, dst, src, bytes, err);
}

int dpt_dev_copy_d2h(dpt_device *d, void *dst, const void *src, size_t bytes, dpt_err *err)
{
  return d->vt->copy_d2h(d->ctx, dst, src, bytes, err);
}

int dpt_dev_copy_d2d(dpt_device *d, void *dst, const void *src, size_t bytes, dpt_err *err)
{
  return d->vt->copy_d2d(d->ctx, dst, src, bytes, err);
}

int dpt_dev_zero(dpt_device *d, void *p, size_t bytes, dpt_err *err)
{
  return d->vt->zero(d->ctx, p, bytes, err);
}

int dpt_dev_sync(dpt_device *d, dpt_err *err) { return d->vt->sync(d->ctx, err); }

int dpt_dev_gemm(dpt_device *d, bool ta, bool tb, int m, int n, int k, float alpha, const float *a,
                 int lda, const float *b, int ldb, float beta, float *c, int ldc, dpt_err *err)
{
  return d->vt->gemm(d->ctx, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, err);
}

int dpt_dev_col_sum(dpt_device *d, int rows, int cols, float alpha, const float *x, float beta,
                    float *y, dpt_err *err)
{
  return d->vt->col_sum(d->ctx, rows, cols, alpha, x, beta, y, err);
}

int dpt_dev_bias_act(dpt_device *d, int rows, int cols, const float *bias, bool relu, float *y,
                     dpt_err *err)
{
  return d->vt->bias_act(d->ctx, rows, cols, bias, relu, y, err);
}

int dpt_dev_relu_bwd(dpt_device *d, size_t n, const float *y, const float *dy, float *dx,
                     dpt_err *err)
{
  return d->vt->relu_bwd(d->ctx, n, y, dy, dx, err);
}

int dpt_dev_softmax_xent(dpt_device *d, int rows, int cols, const float *logits,
                         const int32_t *labels, float grad_scale, float *dlogits, float *row_loss,
                         int32_t *row_argmax, dpt_err *err)
{
  return d->vt->softmax_xent(d->ctx, rows, cols, logits, labels, grad_scale, dlogits, row_loss,
                             row_argmax, err);
}

int dpt_dev_sgd_step(dpt_device *d, size_t n, float *params, const float *grads, float *velocity,
                     float lr, float momentum, float weight_decay, const float *skip_votes,
                     dpt_err *err)
{
  return d->vt->sgd_step(d->ctx, n, params, grads, velocity, lr, momentum, weight_decay,
                         skip_votes, err);
}

int dpt_dev_add(dpt_device *d, size_t n, const float *x, float *acc, dpt_err *err)
{
  return d->vt->add(d->ctx, n, x, acc, err);
}

int dpt_dev_has_nonfinite(dpt_device *d, size_t n, const float *x, bool *out, dpt_err *err)
{
  return d->vt->has_nonfinite(d->ctx, n, x, out, err);
}

int dpt_dev_im2col(dpt_device *d, dpt_image g, const float *x, float *cols, dpt_err *err)
{
  return d->vt->im2col(d->ctx, g, x, cols, err);
}

int dpt_dev_col2im(dpt_device *d, dpt_image g, const float *dcols, float *dx, dpt_err *err)
{
  return d->vt->col2im(d->ctx, g, dcols, dx, err);
}

int dpt_dev_maxpool(dpt_device *d, dpt_image g, const float *x, float *y, dpt_err *err)
{
  return d->vt->maxpool(d->ctx, g, x, y, err);
}

int dpt_dev_maxpool_bwd(dpt_device *d, dpt_image g, const float *x, const float *dy, float *dx,
                        dpt_err *err)
{
  return d->vt->maxpool_bwd(d->ctx, g, x, dy, dx, err);
}
