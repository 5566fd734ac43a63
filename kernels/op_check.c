#include "kernels/op_check.h"

#include <stdarg.h>

#include "kernels/gemm_map.h"

/* When `used`, none of the count buffers (passed as const void *) may be NULL. */
static int need_buffers(const char *where, bool used, dpt_err *err, int count, ...)
{
  if (!used) return DPT_OK;
  int rc = DPT_OK;
  va_list ap;
  va_start(ap, count);
  for (int i = 0; i < count && !rc; i++)
    if (!va_arg(ap, const void *))
      rc = dpt_err_set(err, DPT_EINTERNAL, "%s: buffer argument %d of %d is NULL", where, i + 1,
                       count);
  va_end(ap);
  return rc;
}

static int check_dims(const char *where, int rows, int cols, dpt_err *err)
{
  if (rows >= 0 && cols >= 0) return DPT_OK;
  return dpt_err_set(err, DPT_EINTERNAL, "%s: negative size %d x %d", where, rows, cols);
}

int dpt_check_alloc(const char *where, void **out, dpt_err *err)
{
  return need_buffers(where, true, err, 1, (const void *)out);
}

int dpt_check_copy(const char *where, size_t bytes, const void *dst, const void *src, dpt_err *err)
{
  return need_buffers(where, bytes > 0, err, 2, dst, src);
}

int dpt_check_zero(const char *where, size_t bytes, const void *p, dpt_err *err)
{
  return need_buffers(where, bytes > 0, err, 1, p);
}

int dpt_check_gemm(const char *where, bool ta, bool tb, int m, int n, int k, const float *a,
                   int lda, const float *b, int ldb, const float *c, int ldc, dpt_err *err)
{
  int rc = dpt_gemm_check(where, ta, tb, m, n, k, lda, ldb, ldc, err);
  if (!rc) rc = need_buffers(where, m > 0 && n > 0, err, 1, (const void *)c);
  if (!rc)
    rc = need_buffers(where, m > 0 && n > 0 && k > 0, err, 2, (const void *)a, (const void *)b);
  return rc;
}

int dpt_check_col_sum(const char *where, int rows, int cols, const float *x, const float *y,
                      dpt_err *err)
{
  int rc = check_dims(where, rows, cols, err);
  return rc ? rc
            : need_buffers(where, rows > 0 && cols > 0, err, 2, (const void *)x, (const void *)y);
}

int dpt_check_bias_act(const char *where, int rows, int cols, const float *bias, const float *y,
                       dpt_err *err)
{
  int rc = check_dims(where, rows, cols, err);
  return rc ? rc
            : need_buffers(where, rows > 0 && cols > 0, err, 2, (const void *)bias,
                           (const void *)y);
}

int dpt_check_relu_bwd(const char *where, size_t n, const float *y, const float *dy,
                       const float *dx, dpt_err *err)
{
  return need_buffers(where, n > 0, err, 3, (const void *)y, (const void *)dy, (const void *)dx);
}

int dpt_check_softmax_xent(const char *where, int rows, int cols, const float *logits,
                           const int32_t *labels, const float *dlogits, const float *row_loss,
                           const int32_t *row_argmax, dpt_err *err)
{
  int rc = check_dims(where, rows, cols, err);
  if (!rc && rows > 0 && cols < 1)
    rc = dpt_err_set(err, DPT_EINTERNAL, "%s: %d rows of no classes", where, rows);
  if (!rc)
    rc = need_buffers(where, rows > 0, err, 5, (const void *)logits, (const void *)labels,
                      (const void *)dlogits, (const void *)row_loss, (const void *)row_argmax);
  return rc;
}

int dpt_check_sgd_step(const char *where, size_t n, const float *params, const float *grads,
                       const float *velocity, dpt_err *err)
{
  return need_buffers(where, n > 0, err, 3, (const void *)params, (const void *)grads,
                      (const void *)velocity);
}

int dpt_check_add(const char *where, size_t n, const float *x, const float *acc, dpt_err *err)
{
  return need_buffers(where, n > 0, err, 2, (const void *)x, (const void *)acc);
}

int dpt_check_has_nonfinite(const char *where, size_t n, const float *x, const bool *out,
                            dpt_err *err)
{
  int rc = need_buffers(where, true, err, 1, (const void *)out);
  return rc ? rc : need_buffers(where, n > 0, err, 1, (const void *)x);
}

int dpt_check_image(const char *where, dpt_image g, bool pool, const float *a, const float *b,
                    const float *c, dpt_err *err)
{
  if (g.rows < 0 || g.h < 1 || g.w < 1 || g.c < 1 || g.k < 1 || (pool && (g.k > g.h || g.k > g.w)))
    return dpt_err_set(err, DPT_EINTERNAL, "%s: impossible geometry: %d rows of %d x %d x %d, %s %d",
                       where, g.rows, g.h, g.w, g.c, pool ? "window" : "kernel", g.k);
  return c ? need_buffers(where, g.rows > 0, err, 3, (const void *)a, (const void *)b,
                          (const void *)c)
           : need_buffers(where, g.rows > 0, err, 2, (const void *)a, (const void *)b);
}
