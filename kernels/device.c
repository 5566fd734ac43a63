/* The wrappers callers use: each forwards to the backend's table. Argument checks live in the
 * backends (kernels/op_check.h), so the wrappers stay one call on the hot path. */
#include "dpt/device.h"
#include "dpt/votes.h"
#include "kernels/kn_math.h"

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

int dpt_dev_copy_d2h_queued(dpt_device *d, void *dst, const void *src, size_t bytes,
                            dpt_err *err)
{
  return d->vt->copy_d2h_queued(d->ctx, dst, src, bytes, err);
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

int dpt_dev_mark(dpt_device *d, int m, dpt_err *err)
{
  return d->vt->mark ? d->vt->mark(d->ctx, m, err) : DPT_OK;
}

int dpt_dev_wait_mark(dpt_device *d, int m, dpt_err *err)
{
  return d->vt->wait_mark ? d->vt->wait_mark(d->ctx, m, err) : DPT_OK;
}

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

int dpt_dev_vote(dpt_device *d, size_t n, float *grads, const float *gate, dpt_err *err)
{
  if (!n || !grads || !gate)
    return dpt_err_set(err, DPT_EINTERNAL, "%s vote: %zu values at %p, gate %p", d->vt->name, n,
                       (void *)grads, (const void *)gate);
  return d->vt->vote(d->ctx, n, grads, gate, err);
}

int dpt_dev_ledger_commit(dpt_device *d, dpt_ledger *ledger, const float *tally, int rows,
                          const float *row_loss, const int32_t *row_argmax, const int32_t *labels,
                          long step, int max_skips, bool nonfinite_stop, dpt_err *err)
{
  if (!ledger || !tally || rows < 0 || (rows && (!row_loss || !row_argmax || !labels)))
    return dpt_err_set(err, DPT_EINTERNAL, "%s ledger_commit: a buffer missing for %d rows",
                       d->vt->name, rows);
  return d->vt->ledger_commit(d->ctx, ledger, tally, rows, row_loss, row_argmax, labels, step,
                              max_skips, nonfinite_stop, err);
}

void *dpt_dev_stream(const dpt_device *d) { return d->vt->stream ? d->vt->stream(d->ctx) : NULL; }

bool dpt_dev_counts_read(dpt_device *d, dpt_dev_counts *out)
{
  *out = (dpt_dev_counts){0};
  if (!d->vt->counts) return false;
  d->vt->counts(d->ctx, out);
  return true;
}

size_t dpt_dev_relu_mask_bytes(dpt_device *d, int rows, int cols)
{
  return d->vt->relu_mask_bytes ? d->vt->relu_mask_bytes(d->ctx, rows, cols) : 0;
}

/* The layer ops below: the backend's fused call where it has one, else the ops the CPU runs. */
int dpt_dev_linear_fwd(dpt_device *d, int rows, int in, int out, const float *x, const float *w,
                       const float *bias, bool relu, float *y, void *mask, dpt_err *err)
{
  int rc = DPT_OK;
  if (d->vt->linear_fwd && d->vt->linear_fwd(d->ctx, rows, in, out, x, w, bias, relu, y, mask,
                                             &rc, err))
    return rc;
  rc = dpt_dev_gemm(d, false, true, rows, out, in, 1.f, x, in, w, in, 0.f, y, out, err);
  return rc ? rc : dpt_dev_bias_act(d, rows, out, bias, relu, y, err);
}

int dpt_dev_linear_bwd_weights(dpt_device *d, int rows, int in, int out, const float *dy,
                               const float *x, float *gw, float *gb, dpt_err *err)
{
  int rc = DPT_OK;
  if (d->vt->linear_bwd_weights &&
      d->vt->linear_bwd_weights(d->ctx, rows, in, out, dy, x, gw, gb, &rc, err))
    return rc;
  rc = dpt_dev_gemm(d, true, false, out, in, rows, 1.f, dy, out, x, in, 0.f, gw, in, err);
  return rc ? rc : dpt_dev_col_sum(d, rows, out, 1.f, dy, 0.f, gb, err);
}

int dpt_dev_linear_bwd_data(dpt_device *d, int rows, int in, int out, const float *dy,
                            const float *w, const float *x, const void *mask, float *prev,
                            dpt_err *err)
{
  int rc = DPT_OK;
  if (mask && d->vt->linear_bwd_data &&
      d->vt->linear_bwd_data(d->ctx, rows, in, out, dy, w, mask, prev, &rc, err))
    return rc;
  rc = dpt_dev_gemm(d, false, false, rows, in, out, 1.f, dy, out, w, in, 0.f, prev, in, err);
  return rc ? rc : dpt_dev_relu_bwd(d, (size_t)rows * (size_t)in, x, prev, prev, err);
}

int dpt_dev_sgd_step_commit(dpt_device *d, size_t n, float *params, const float *grads,
                            float *velocity, float lr, float momentum, float weight_decay,
                            const float *tally, const dpt_ledger_step *step, dpt_err *err)
{
  int rc = DPT_OK;
  if (d->vt->sgd_step_commit &&
      d->vt->sgd_step_commit(d->ctx, n, params, grads, velocity, lr, momentum, weight_decay, tally,
                             step, &rc, err))
    return rc;
  rc = dpt_dev_sgd_step(d, n, params, grads, velocity, lr, momentum, weight_decay,
                        tally + DPT_TALLY_SKIP, err);
  return rc ? rc
            : dpt_dev_ledger_commit(d, step->ledger, tally, step->rows, step->row_loss,
                                    step->row_argmax, step->labels, step->step, step->max_skips,
                                    step->nonfinite_stop, err);
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

int dpt_dev_maxpool_bwd(dpt_device *d, dpt_image g, bool relu, const float *x, const float *dy,
                        float *dx, dpt_err *err)
{
  return d->vt->maxpool_bwd(d->ctx, g, relu, x, dy, dx, err);
}

/* The conv's GEMM sizes (kn_patch_rows, kn_patch_width). */
static void conv_sizes(dpt_image g, int *pixels, int *width)
{
  *pixels = (int)kn_patch_rows(g.rows, g.h, g.w, g.k);
  *width = (int)kn_patch_width(g.c, g.k);
}

int dpt_dev_conv_fwd(dpt_device *d, dpt_image g, int out_c, const float *x, const float *w,
                     const float *bias, bool relu, float *cols, float *y, void *mask,
                     dpt_err *err)
{
  int rc = DPT_OK;
  if (d->vt->conv_fwd &&
      d->vt->conv_fwd(d->ctx, g, out_c, x, w, bias, relu, cols, y, mask, &rc, err))
    return rc;
  int pixels, width;
  conv_sizes(g, &pixels, &width);
  rc = dpt_dev_im2col(d, g, x, cols, err);
  return rc ? rc : dpt_dev_linear_fwd(d, pixels, width, out_c, cols, w, bias, relu, y, mask, err);
}

int dpt_dev_conv_bwd_data(dpt_device *d, dpt_image g, int out_c, const float *dy, const float *w,
                          float *cols, float *dx, dpt_err *err)
{
  int rc = DPT_OK;
  if (d->vt->conv_bwd_data && d->vt->conv_bwd_data(d->ctx, g, out_c, dy, w, cols, dx, &rc, err))
    return rc;
  int pixels, width;
  conv_sizes(g, &pixels, &width);
  rc = dpt_dev_gemm(d, false, false, pixels, width, out_c, 1.f, dy, out_c, w, width, 0.f, cols,
                    width, err);
  return rc ? rc : dpt_dev_col2im(d, g, cols, dx, err);
}

dpt_image dpt_conv_pool_image(const dpt_conv_pool *p)
{
  return (dpt_image){.rows = p->g.rows, .h = kn_conv_out(p->g.h, p->g.k),
                     .w = kn_conv_out(p->g.w, p->g.k), .c = p->out_c, .k = p->pool};
}

int dpt_dev_conv_pool_fwd(dpt_device *d, const dpt_conv_pool *p, const float *x, float *y,
                          dpt_err *err)
{
  int rc = DPT_OK;
  if (d->vt->conv_pool_fwd && d->vt->conv_pool_fwd(d->ctx, p, x, y, &rc, err)) return rc;
  rc = dpt_dev_conv_fwd(d, p->g, p->out_c, x, p->w, p->bias, p->relu, p->cols, p->conv_y, NULL,
                        err);
  return rc ? rc : dpt_dev_maxpool(d, dpt_conv_pool_image(p), p->conv_y, y, err);
}

int dpt_dev_conv_pool_bwd(dpt_device *d, const dpt_conv_pool *p, const float *dy, float *gw,
                          float *gb, float *dx, dpt_err *err)
{
  int rc = DPT_OK;
  if (d->vt->conv_pool_bwd && d->vt->conv_pool_bwd(d->ctx, p, dy, gw, gb, dx, &rc, err))
    return rc;
  int pixels, width;
  conv_sizes(p->g, &pixels, &width);
  rc = dpt_dev_maxpool_bwd(d, dpt_conv_pool_image(p), p->relu, p->conv_y, dy, p->scratch, err);
  if (!rc)
    rc = dpt_dev_linear_bwd_weights(d, pixels, width, p->out_c, p->scratch, p->cols, gw, gb, err);
  return rc || !dx ? rc
                   : dpt_dev_conv_bwd_data(d, p->g, p->out_c, p->scratch, p->w, p->cols, dx, err);
}
