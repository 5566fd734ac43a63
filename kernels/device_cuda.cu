/* The CUDA backend: one device, one non-blocking stream, one cuBLAS handle bound to it, all in
 * the device's context. Every op is queued on that stream; sync and copy_d2h wait for it.
 * GEMM and column sums go through cuBLAS; the element-wise and per-row ops are grid-stride
 * kernels around the same kn_ bodies the CPU backend runs (kernels/kn_math.h), built with
 * --fmad=false so they round as the CPU does.
 * A device is used from the thread that opened it (cudaSetDevice is per host thread); alloc and
 * destroy select the device again themselves, since they may be called from elsewhere. */
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <stdlib.h>

/* The public headers are plain C without extern "C" guards; this is their one C++ includer. */
extern "C" {
#include "dpt/device.h"
#include "dpt/status.h"
}

#include "kernels/backends.h"
#include "kernels/cuda_check.h"
#include "kernels/gemm_map.h"
#include "kernels/kn_math.h"
#include "kernels/op_check.h"

namespace {

struct cuda_ctx {
  int ordinal;
  cudaStream_t stream;
  cublasHandle_t blas;
  float *ones; /* device vector of ones_len ones: col_sum is a gemv with it */
  size_t ones_len;
  int *flag;   /* device int: has_nonfinite's answer */
};

cuda_ctx *as_ctx(void *ctx) { return static_cast<cuda_ctx *>(ctx); }

/* --- element-wise launches: op(i) for i in [0, n), grid-stride ------------------------------ */

constexpr unsigned kThreads = 256;
constexpr size_t kMaxBlocks = 4096; /* beyond this, each thread loops: launch size stays small */

template <typename Op> __global__ void each_index(size_t n, Op op)
{
  size_t stride = (size_t)gridDim.x * blockDim.x;
  for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) op(i);
}

template <typename Op> int launch_each(const cuda_ctx *c, size_t n, Op op, dpt_err *err)
{
  if (n == 0) return DPT_OK;
  size_t blocks = (n + kThreads - 1) / kThreads;
  if (blocks > kMaxBlocks) blocks = kMaxBlocks;
  each_index<<<(unsigned)blocks, kThreads, 0, c->stream>>>(n, op);
  return DPT_CHECK_CUDA(cudaGetLastError(), err);
}

/* One functor per op: captures the arguments, calls the shared body. */
struct fill_op {
  float v;
  float *y;
  __device__ void operator()(size_t i) const { kn_fill_at(i, v, y); }
};

struct bias_act_op {
  int cols;
  const float *bias;
  int relu;
  float *y;
  __device__ void operator()(size_t i) const { kn_bias_act_at(i, cols, bias, relu, y); }
};

struct relu_bwd_op {
  const float *y, *dy;
  float *dx;
  __device__ void operator()(size_t i) const { kn_relu_bwd_at(i, y, dy, dx); }
};

/* One thread per row: rows are short (the class count), so a row needs no cooperation. */
struct softmax_xent_op {
  int cols;
  const float *logits;
  const int32_t *labels;
  float grad_scale;
  float *dlogits, *row_loss;
  int32_t *row_argmax;
  __device__ void operator()(size_t r) const
  {
    kn_softmax_xent_row((int)r, cols, logits, labels, grad_scale, dlogits, row_loss, row_argmax);
  }
};

/* skip_votes (device memory, or NULL) is read by every thread: a skipped step leaves all as is. */
struct sgd_step_op {
  float *params;
  const float *grads;
  float *velocity;
  float lr, momentum, weight_decay;
  const float *skip_votes;
  __device__ void operator()(size_t i) const
  {
    if (skip_votes && kn_step_skipped(*skip_votes)) return;
    kn_sgd_step_at(i, params, grads, velocity, lr, momentum, weight_decay);
  }
};

struct add_op {
  const float *x;
  float *acc;
  __device__ void operator()(size_t i) const { kn_add_at(i, x, acc); }
};

/* Threads that find a NaN or Inf all store the same 1: a flag, not a reduction. */
struct nonfinite_op {
  const float *x;
  int *flag;
  __device__ void operator()(size_t i) const
  {
    if (kn_nonfinite_at(i, x)) *flag = 1;
  }
};

cublasOperation_t blas_op(bool trans) { return trans ? CUBLAS_OP_T : CUBLAS_OP_N; }

/* --- the table ------------------------------------------------------------------------------ */

/* Also undoes a partial open: every member may still be empty. Errors are dropped: there is no
 * caller to report them to, and the device is going away. */
void cuda_destroy(void *ctx)
{
  cuda_ctx *c = as_ctx(ctx);
  (void)cudaSetDevice(c->ordinal);
  if (c->stream) (void)cudaStreamSynchronize(c->stream);
  if (c->blas) (void)cublasDestroy(c->blas);
  (void)cudaFree(c->ones);
  (void)cudaFree(c->flag);
  if (c->stream) (void)cudaStreamDestroy(c->stream);
  free(c);
}

int cuda_alloc(void *ctx, size_t bytes, void **out, dpt_err *err)
{
  int rc = dpt_check_alloc("cuda alloc", out, err);
  if (rc) return rc;
  *out = NULL;
  rc = DPT_CHECK_CUDA(cudaSetDevice(as_ctx(ctx)->ordinal), err);
  return rc ? rc : DPT_CHECK_CUDA(cudaMalloc(out, bytes), err);
}

void cuda_free(void *ctx, void *p) { (void)cudaFree(p); }

int cuda_host_alloc(void *ctx, size_t bytes, void **out, dpt_err *err)
{
  int rc = dpt_check_alloc("cuda host_alloc", out, err);
  if (rc) return rc;
  *out = NULL;
  return DPT_CHECK_CUDA(cudaMallocHost(out, bytes), err);
}

void cuda_host_free(void *ctx, void *p) { (void)cudaFreeHost(p); }

/* Queued on the stream. From page-locked host memory the copy is asynchronous: keep src as it is
 * until the next sync. */
int cuda_copy_h2d(void *ctx, void *dst, const void *src, size_t bytes, dpt_err *err)
{
  int rc = dpt_check_copy("cuda copy_h2d", bytes, dst, src, err);
  if (rc || !bytes) return rc;
  return DPT_CHECK_CUDA(
      cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, as_ctx(ctx)->stream), err);
}

/* Waits for the stream, so the host can read dst on return. */
int cuda_copy_d2h(void *ctx, void *dst, const void *src, size_t bytes, dpt_err *err)
{
  cuda_ctx *c = as_ctx(ctx);
  int rc = dpt_check_copy("cuda copy_d2h", bytes, dst, src, err);
  if (rc || !bytes) return rc;
  rc = DPT_CHECK_CUDA(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, c->stream), err);
  return rc ? rc : DPT_CHECK_CUDA(cudaStreamSynchronize(c->stream), err);
}

int cuda_copy_d2d(void *ctx, void *dst, const void *src, size_t bytes, dpt_err *err)
{
  int rc = dpt_check_copy("cuda copy_d2d", bytes, dst, src, err);
  if (rc || !bytes) return rc;
  return DPT_CHECK_CUDA(
      cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, as_ctx(ctx)->stream), err);
}

int cuda_zero(void *ctx, void *p, size_t bytes, dpt_err *err)
{
  int rc = dpt_check_zero("cuda zero", bytes, p, err);
  if (rc || !bytes) return rc;
  return DPT_CHECK_CUDA(cudaMemsetAsync(p, 0, bytes, as_ctx(ctx)->stream), err);
}

int cuda_sync(void *ctx, dpt_err *err)
{
  return DPT_CHECK_CUDA(cudaStreamSynchronize(as_ctx(ctx)->stream), err);
}

int cuda_gemm(void *ctx, bool ta, bool tb, int m, int n, int k, float alpha, const float *a,
              int lda, const float *b, int ldb, float beta, float *c, int ldc, dpt_err *err)
{
  int rc = dpt_check_gemm("cuda gemm", ta, tb, m, n, k, a, lda, b, ldb, c, ldc, err);
  if (rc || m == 0 || n == 0) return rc;
  dpt_gemm_colmajor g = dpt_gemm_map(ta, tb, m, n, k, lda, ldb, ldc);
  const float *first = g.a_is_b ? b : a, *second = g.a_is_b ? a : b;
  /* alpha and beta are read from host memory before the call returns (host pointer mode). */
  return DPT_CHECK_CUBLAS(cublasSgemm(as_ctx(ctx)->blas, blas_op(g.transa), blas_op(g.transb), g.m,
                                      g.n, g.k, &alpha, first, g.lda, second, g.ldb, &beta, c,
                                      g.ldc),
                          err);
}

/* Grows the ones vector to n. The old one may still be read by queued work: wait first. */
int ensure_ones(cuda_ctx *c, size_t n, dpt_err *err)
{
  if (n <= c->ones_len) return DPT_OK;
  int rc = DPT_CHECK_CUDA(cudaStreamSynchronize(c->stream), err);
  if (!rc) rc = DPT_CHECK_CUDA(cudaFree(c->ones), err);
  c->ones = NULL;
  c->ones_len = 0;
  void *p = NULL;
  if (!rc) rc = DPT_CHECK_CUDA(cudaMalloc(&p, n * sizeof(float)), err);
  if (!rc) rc = launch_each(c, n, fill_op{1.f, static_cast<float *>(p)}, err);
  if (rc) {
    (void)cudaFree(p);
    return rc;
  }
  c->ones = static_cast<float *>(p);
  c->ones_len = n;
  return DPT_OK;
}

/* rows or cols = 0 leaves y as it is, as on the CPU backend. */
int cuda_col_sum(void *ctx, int rows, int cols, float alpha, const float *x, float beta, float *y,
                 dpt_err *err)
{
  cuda_ctx *c = as_ctx(ctx);
  int rc = dpt_check_col_sum("cuda col_sum", rows, cols, x, y, err);
  if (rc || rows == 0 || cols == 0) return rc;
  rc = ensure_ones(c, (size_t)rows, err);
  if (rc) return rc;
  /* Row-major x (rows x cols) is column-major cols x rows with ld = cols: y = alpha*x*ones. */
  return DPT_CHECK_CUBLAS(
      cublasSgemv(c->blas, CUBLAS_OP_N, cols, rows, &alpha, x, cols, c->ones, 1, &beta, y, 1), err);
}

int cuda_bias_act(void *ctx, int rows, int cols, const float *bias, bool relu, float *y,
                  dpt_err *err)
{
  int rc = dpt_check_bias_act("cuda bias_act", rows, cols, bias, y, err);
  if (rc) return rc;
  return launch_each(as_ctx(ctx), (size_t)rows * (size_t)cols,
                     bias_act_op{cols, bias, relu ? 1 : 0, y}, err);
}

int cuda_relu_bwd(void *ctx, size_t n, const float *y, const float *dy, float *dx, dpt_err *err)
{
  int rc = dpt_check_relu_bwd("cuda relu_bwd", n, y, dy, dx, err);
  return rc ? rc : launch_each(as_ctx(ctx), n, relu_bwd_op{y, dy, dx}, err);
}

/* Labels live on the device, so their range is the caller's promise here (the CPU backend
 * checks it). */
int cuda_softmax_xent(void *ctx, int rows, int cols, const float *logits, const int32_t *labels,
                      float grad_scale, float *dlogits, float *row_loss, int32_t *row_argmax,
                      dpt_err *err)
{
  int rc = dpt_check_softmax_xent("cuda softmax_xent", rows, cols, logits, labels, dlogits,
                                  row_loss, row_argmax, err);
  if (rc) return rc;
  return launch_each(
      as_ctx(ctx), (size_t)rows,
      softmax_xent_op{cols, logits, labels, grad_scale, dlogits, row_loss, row_argmax}, err);
}

int cuda_sgd_step(void *ctx, size_t n, float *params, const float *grads, float *velocity, float lr,
                  float momentum, float weight_decay, const float *skip_votes, dpt_err *err)
{
  int rc = dpt_check_sgd_step("cuda sgd_step", n, params, grads, velocity, err);
  if (rc) return rc;
  return launch_each(as_ctx(ctx), n,
                     sgd_step_op{params, grads, velocity, lr, momentum, weight_decay, skip_votes},
                     err);
}

int cuda_add(void *ctx, size_t n, const float *x, float *acc, dpt_err *err)
{
  int rc = dpt_check_add("cuda add", n, x, acc, err);
  return rc ? rc : launch_each(as_ctx(ctx), n, add_op{x, acc}, err);
}

int cuda_has_nonfinite(void *ctx, size_t n, const float *x, bool *out, dpt_err *err)
{
  cuda_ctx *c = as_ctx(ctx);
  int rc = dpt_check_has_nonfinite("cuda has_nonfinite", n, x, out, err);
  if (rc) return rc;
  int found = 0;
  rc = DPT_CHECK_CUDA(cudaMemsetAsync(c->flag, 0, sizeof found, c->stream), err);
  if (!rc) rc = launch_each(c, n, nonfinite_op{x, c->flag}, err);
  if (!rc)
    rc = DPT_CHECK_CUDA(
        cudaMemcpyAsync(&found, c->flag, sizeof found, cudaMemcpyDeviceToHost, c->stream), err);
  if (!rc) rc = DPT_CHECK_CUDA(cudaStreamSynchronize(c->stream), err);
  if (!rc) *out = found != 0;
  return rc;
}

/* Filled by member name: designated initializers are C++20, and CMake 3.25 can ask nvcc for
 * C++17 at most. */
dpt_device_ops make_cuda_ops()
{
  dpt_device_ops t{};
  t.name = "cuda";
  t.destroy = cuda_destroy;
  t.alloc = cuda_alloc;
  t.free = cuda_free;
  t.host_alloc = cuda_host_alloc;
  t.host_free = cuda_host_free;
  t.copy_h2d = cuda_copy_h2d;
  t.copy_d2h = cuda_copy_d2h;
  t.copy_d2d = cuda_copy_d2d;
  t.zero = cuda_zero;
  t.sync = cuda_sync;
  t.gemm = cuda_gemm;
  t.col_sum = cuda_col_sum;
  t.bias_act = cuda_bias_act;
  t.relu_bwd = cuda_relu_bwd;
  t.softmax_xent = cuda_softmax_xent;
  t.sgd_step = cuda_sgd_step;
  t.add = cuda_add;
  t.has_nonfinite = cuda_has_nonfinite;
  return t;
}

const dpt_device_ops cuda_ops = make_cuda_ops();

} // namespace

/* Runs in the worker's own thread: cudaSetDevice binds that thread to the device. */
int dpt_cuda_backend_open(int ordinal, dpt_device *out, dpt_err *err)
{
  int count = 0;
  dpt_err why = {};
  dpt_cuda_backend_count(&count, &why);
  if (count == 0) return dpt_err_set(err, DPT_EDEVICE, "cuda: no usable device: %s", why.msg);
  if (ordinal >= count)
    return dpt_err_set(err, DPT_EINPUT, "cuda: device %d requested, but %d found", ordinal, count);
  cuda_ctx *c = static_cast<cuda_ctx *>(calloc(1, sizeof *c));
  if (!c) return dpt_err_set(err, DPT_ENOMEM, "cuda: out of memory for device %d", ordinal);
  c->ordinal = ordinal;
  int rc = DPT_CHECK_CUDA(cudaSetDevice(ordinal), err);
  if (!rc) rc = DPT_CHECK_CUDA(cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking), err);
  if (!rc) rc = DPT_CHECK_CUBLAS(cublasCreate(&c->blas), err);
  if (!rc) rc = DPT_CHECK_CUBLAS(cublasSetStream(c->blas, c->stream), err);
  if (!rc) rc = DPT_CHECK_CUDA(cudaMalloc(reinterpret_cast<void **>(&c->flag), sizeof(int)), err);
  if (rc) {
    cuda_destroy(c);
    return rc;
  }
  *out = dpt_device{&cuda_ops, c, DPT_DEVICE_CUDA, ordinal};
  return DPT_OK;
}
