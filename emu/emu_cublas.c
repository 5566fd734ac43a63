/* The cuBLAS subset dptrain calls, on OpenBLAS: a handle belongs to the device
 * current when it was made; gemm and gemv check their sizes as cuBLAS does,
 * read alpha and beta at the call (host pointer mode), and queue the
 * column-major OpenBLAS call on the handle's stream. */
#include <cblas.h>
#include <cublas_v2.h>
#include <stdlib.h>

#include "emu/emu_internal.h"

struct cublasContext {
  int device; /* physical */
  cudaStream_t stream;
};

cublasStatus_t cublasCreate(cublasHandle_t *handle)
{
  if (!handle) return CUBLAS_STATUS_INVALID_VALUE;
  int dev = emu_current_physical();
  if (dev < 0 || emu_sticky(dev) != cudaSuccess) return CUBLAS_STATUS_NOT_INITIALIZED;
  struct cublasContext *h = calloc(1, sizeof *h);
  if (!h) return CUBLAS_STATUS_ALLOC_FAILED;
  h->device = dev;
  *handle = h;
  return CUBLAS_STATUS_SUCCESS;
}

/* cuBLAS waits for the device here (it calls cudaDeviceSynchronize). */
cublasStatus_t cublasDestroy(cublasHandle_t handle)
{
  if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
  (void)emu_device_wait_idle(handle->device);
  free(handle);
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetStream(cublasHandle_t handle, cudaStream_t streamId)
{
  if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
  cudaError_t rc;
  if (streamId && !emu_stream_resolve(streamId, &rc)) return CUBLAS_STATUS_INVALID_VALUE;
  handle->stream = streamId;
  return CUBLAS_STATUS_SUCCESS;
}

/* Bytes spanned by a column-major rows x cols matrix with leading dimension ld.
 */
static size_t matrix_bytes(int rows, int cols, int ld)
{
  if (rows == 0 || cols == 0) return 0;
  return ((size_t)(cols - 1) * (size_t)ld + (size_t)rows) * sizeof(float);
}

static size_t vector_bytes(int n, int inc)
{
  return n == 0 ? 0 : ((size_t)(n - 1) * (size_t)abs(inc) + 1) * sizeof(float);
}

static enum CBLAS_TRANSPOSE cblas_op(cublasOperation_t op)
{
  return op == CUBLAS_OP_N ? CblasNoTrans : CblasTrans;
}

typedef struct gemm_args {
  cublasOperation_t ta, tb;
  int m, n, k, lda, ldb, ldc;
  float alpha, beta;
  const float *a, *b;
  float *c;
  size_t a_bytes, b_bytes, c_bytes;
} gemm_args;

/* Views of the operands, or NULL (and a sticky illegal address) when one is out
 * of range. */
static bool view_operands(emu_stream *s, const void *a, size_t ab, const void *b, size_t bb,
                          const void *c, size_t cb, const float **va, const float **vb, float **vc)
{
  *va = ab ? emu_view(a, ab) : NULL;
  *vb = bb ? emu_view(b, bb) : NULL;
  *vc = emu_view(c, cb);
  if ((ab && !*va) || (bb && !*vb) || !*vc) {
    emu_set_sticky(s->device, cudaErrorIllegalAddress);
    return false;
  }
  return true;
}

static void run_gemm(emu_stream *s, void *p)
{
  gemm_args *g = p;
  const float *a, *b;
  float *c;
  if (!view_operands(s, g->a, g->a_bytes, g->b, g->b_bytes, g->c, g->c_bytes, &a, &b, &c)) return;
  cblas_sgemm(CblasColMajor, cblas_op(g->ta), cblas_op(g->tb), g->m, g->n, g->k, g->alpha, a,
              g->lda, b, g->ldb, g->beta, c, g->ldc);
}

static cublasStatus_t enqueue(cublasHandle_t h, emu_run_fn run, const void *args, size_t size)
{
  cudaError_t rc;
  emu_stream *s = emu_stream_resolve(h->stream, &rc);
  if (!s) return CUBLAS_STATUS_INVALID_VALUE;
  if (emu_sticky(s->device) != cudaSuccess) return CUBLAS_STATUS_EXECUTION_FAILED;
  emu_count(s->device, DPT_EMU_BLAS, 1);
  return emu_stream_enqueue(s, run, args, size) == cudaSuccess ? CUBLAS_STATUS_SUCCESS
                                                               : CUBLAS_STATUS_ALLOC_FAILED;
}

static bool valid_op(cublasOperation_t op) { return op == CUBLAS_OP_N || op == CUBLAS_OP_T; }

static int at_least_one(int v) { return v > 1 ? v : 1; }

cublasStatus_t cublasSgemm(cublasHandle_t handle, cublasOperation_t transa,
                           cublasOperation_t transb, int m, int n, int k, const float *alpha,
                           const float *A, int lda, const float *B, int ldb, const float *beta,
                           float *C, int ldc)
{
  if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
  int a_rows = transa == CUBLAS_OP_N ? m : k, a_cols = transa == CUBLAS_OP_N ? k : m;
  int b_rows = transb == CUBLAS_OP_N ? k : n, b_cols = transb == CUBLAS_OP_N ? n : k;
  if (!valid_op(transa) || !valid_op(transb) || m < 0 || n < 0 || k < 0 || !alpha || !beta ||
      lda < at_least_one(a_rows) || ldb < at_least_one(b_rows) || ldc < at_least_one(m))
    return CUBLAS_STATUS_INVALID_VALUE;
  if (m == 0 || n == 0) return CUBLAS_STATUS_SUCCESS;
  gemm_args g = {.ta = transa,
                 .tb = transb,
                 .m = m,
                 .n = n,
                 .k = k,
                 .lda = lda,
                 .ldb = ldb,
                 .ldc = ldc,
                 .alpha = *alpha,
                 .beta = *beta,
                 .a = A,
                 .b = B,
                 .c = C,
                 .a_bytes = matrix_bytes(a_rows, a_cols, lda),
                 .b_bytes = matrix_bytes(b_rows, b_cols, ldb),
                 .c_bytes = matrix_bytes(m, n, ldc)};
  return enqueue(handle, run_gemm, &g, sizeof g);
}

typedef struct gemv_args {
  cublasOperation_t trans;
  int m, n, lda, incx, incy;
  float alpha, beta;
  const float *a, *x;
  float *y;
  size_t a_bytes, x_bytes, y_bytes;
} gemv_args;

static void run_gemv(emu_stream *s, void *p)
{
  gemv_args *g = p;
  const float *a, *x;
  float *y;
  if (!view_operands(s, g->a, g->a_bytes, g->x, g->x_bytes, g->y, g->y_bytes, &a, &x, &y)) return;
  cblas_sgemv(CblasColMajor, cblas_op(g->trans), g->m, g->n, g->alpha, a, g->lda, x, g->incx,
              g->beta, y, g->incy);
}

cublasStatus_t cublasSgemv(cublasHandle_t handle, cublasOperation_t trans, int m, int n,
                           const float *alpha, const float *A, int lda, const float *x, int incx,
                           const float *beta, float *y, int incy)
{
  if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (!valid_op(trans) || m < 0 || n < 0 || lda < at_least_one(m) || incx == 0 || incy == 0 ||
      !alpha || !beta)
    return CUBLAS_STATUS_INVALID_VALUE;
  if (m == 0 || n == 0) return CUBLAS_STATUS_SUCCESS;
  int x_len = trans == CUBLAS_OP_N ? n : m, y_len = trans == CUBLAS_OP_N ? m : n;
  gemv_args g = {.trans = trans,
                 .m = m,
                 .n = n,
                 .lda = lda,
                 .incx = incx,
                 .incy = incy,
                 .alpha = *alpha,
                 .beta = *beta,
                 .a = A,
                 .x = x,
                 .y = y,
                 .a_bytes = matrix_bytes(m, n, lda),
                 .x_bytes = vector_bytes(x_len, incx),
                 .y_bytes = vector_bytes(y_len, incy)};
  return enqueue(handle, run_gemv, &g, sizeof g);
}

cublasStatus_t cublasGetProperty(libraryPropertyType type, int *value)
{
  if (!value) return CUBLAS_STATUS_INVALID_VALUE;
  switch (type) {
  case MAJOR_VERSION: *value = CUBLAS_VER_MAJOR; return CUBLAS_STATUS_SUCCESS;
  case MINOR_VERSION: *value = CUBLAS_VER_MINOR; return CUBLAS_STATUS_SUCCESS;
  case PATCH_LEVEL: *value = CUBLAS_VER_PATCH; return CUBLAS_STATUS_SUCCESS;
  }
  return CUBLAS_STATUS_INVALID_VALUE;
}

const char *cublasGetStatusName(cublasStatus_t status)
{
  switch (status) {
  case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
  case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
  case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
  case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
  case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
  default: return "CUBLAS_STATUS_UNKNOWN";
  }
}

const char *cublasGetStatusString(cublasStatus_t status)
{
  switch (status) {
  case CUBLAS_STATUS_SUCCESS: return "success";
  case CUBLAS_STATUS_NOT_INITIALIZED: return "the library was not initialized";
  case CUBLAS_STATUS_ALLOC_FAILED: return "the resource allocation failed";
  case CUBLAS_STATUS_INVALID_VALUE: return "an invalid numeric value was used as an argument";
  case CUBLAS_STATUS_EXECUTION_FAILED: return "the GPU program failed to execute";
  default: return "unknown error";
  }
}
