/* The CUDA backend's host side, plain C over the CUDA runtime and cuBLAS: one
 * device, one non-blocking stream, one cuBLAS handle bound to it, all in the
 * device's context. Every op is queued on that stream; sync and copy_d2h wait
 * for it. GEMM and column sums go through cuBLAS; the element-wise and per-row
 * ops are the kernels of kernels/cuda_kernels.h (cuda_kernels.cu on a GPU, the
 * emulated device's twins in cuda_kernels_emu.c). A device is used from the
 * thread that opened it (cudaSetDevice is per host thread); alloc and destroy
 * select the device again themselves, since they may be called from elsewhere.
 */
#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "dpt/device.h"
#include "dpt/status.h"
#include "dpt/timer.h"
#include "dpt/votes.h"
#include "kernels/backends.h"
#include "kernels/cuda_check.h"
#include "kernels/cuda_kernels.h"
#include "kernels/cuda_lt.h"
#include "kernels/gemm_map.h"
#include "kernels/op_check.h"

typedef struct cuda_ctx {
  int ordinal;
  cudaStream_t stream;
  cublasHandle_t blas;
  cuda_lt *lt; /* the layers' fused GEMMs; NULL: unsupported here, the layers run unfused */
  float *ones; /* device vector of ones_len ones: col_sum is a gemv with it */
  size_t ones_len;
  int *flag; /* device int: has_nonfinite's answer */
  cudaEvent_t done; /* recorded on the stream by each wait, which polls it */
  cudaEvent_t marks[DPT_DEV_MARKS]; /* dpt_device_ops.mark's */
  double wait_s;    /* each wait's bound; 0: none */
  /* A wait timed out: the stream holds work that may never finish, so nothing that would wait
   * for it (cudaFree, cudaFreeHost, cublasDestroy) is called any more; its memory is left to the
   * process's end. Atomic: free may be called from another thread. */
  atomic_bool stuck;
  /* What this backend queued and waited for (dpt_dev_counts), counted here for a real GPU; the
   * emulated device counts the same events itself. Atomic: alloc may come from another thread. */
  atomic_uint_least64_t launches, host_waits, h2d, d2h, allocs;
} cuda_ctx;

/* Counts one launch (a kernel or a cuBLAS call) when rc says it was queued. */
static int launched(cuda_ctx *c, int rc)
{
  if (!rc) atomic_fetch_add(&c->launches, 1);
  return rc;
}

static cublasOperation_t blas_op(bool trans) { return trans ? CUBLAS_OP_T : CUBLAS_OP_N; }

/* For the calls that have no caller to report to (free, destroy): selects the device, and
 * clears a failure from the thread's last-error slot, where the next kernel launch's check would
 * blame it on that kernel. */
static void select_device_quietly(const cuda_ctx *c)
{
  if (cudaSetDevice(c->ordinal) != cudaSuccess) (void)cudaGetLastError();
}

/* The pause between two polls of a wait: none at first (a GPU step's waits are short), then
 * growing to 1 ms, so a long wait costs no core. */
static void poll_pause(int polls)
{
  if (polls < 64) return;
  long us = polls < 128 ? 10 : polls < 256 ? 100 : 1000;
  struct timespec ts = {0, us * 1000L};
  nanosleep(&ts, NULL);
}

/* Waits until event ev's last record has run (what: for the message), polling it, not blocking
 * in the runtime: a kernel that never finishes ends the wait at the device's bound with
 * DPT_ETIMEOUT, and the device is stuck from then on. */
static int wait_event(cuda_ctx *c, cudaEvent_t ev, const char *what, dpt_err *err)
{
  if (atomic_load(&c->stuck))
    return dpt_err_set(err, DPT_ETIMEOUT, "cuda device %d: %s: the device's stream is stuck",
                       c->ordinal, what);
  double until = c->wait_s > 0 ? dpt_now() + c->wait_s : 0;
  for (int polls = 0;; polls++) {
    cudaError_t e = cudaEventQuery(ev);
    if (e == cudaSuccess) return DPT_OK;
    if (polls == 0) atomic_fetch_add(&c->host_waits, 1); /* it waits: the work was not done */
    if (e != cudaErrorNotReady) return DPT_CHECK_CUDA(e, err);
    if (until > 0 && dpt_now() >= until) {
      atomic_store(&c->stuck, true);
      return dpt_err_set(err, DPT_ETIMEOUT,
                         "cuda device %d: %s: the device's queued work did not finish within "
                         "--timeout %g s",
                         c->ordinal, what, c->wait_s);
    }
    poll_pause(polls);
  }
}

/* Waits for the work queued on the stream so far (cudaStreamSynchronize would not time out). */
static int wait_stream(cuda_ctx *c, const char *what, dpt_err *err)
{
  int rc = DPT_CHECK_CUDA(cudaEventRecord(c->done, c->stream), err);
  return rc ? rc : wait_event(c, c->done, what, err);
}

/* wait_stream for the calls that have no caller to report to (free, destroy): whether the
 * device's work is done, so that a call that waits for it cannot hang. */
static bool idle_quietly(cuda_ctx *c, const char *what)
{
  dpt_err ignored = {0};
  return c->done && wait_stream(c, what, &ignored) == DPT_OK;
}

/* --- the table --- */

/* Also undoes a partial open: every member may still be empty. Errors are
 * dropped: there is no caller to report them to, and the device is going away.
 */
static void cuda_destroy(void *ctx)
{
  cuda_ctx *c = ctx;
  select_device_quietly(c);
  /* cublasDestroy and cudaFree wait for the device: only once its work is done. */
  if (!c->stream || idle_quietly(c, "close")) {
    if (c->blas) (void)cublasDestroy(c->blas);
    cuda_lt_close(c->lt);
    (void)cudaFree(c->ones);
    (void)cudaFree(c->flag);
  }
  if (c->done) (void)cudaEventDestroy(c->done);
  for (int m = 0; m < DPT_DEV_MARKS; m++)
    if (c->marks[m]) (void)cudaEventDestroy(c->marks[m]);
  if (c->stream) (void)cudaStreamDestroy(c->stream);
  free(c);
}

static int cuda_alloc(void *ctx, size_t bytes, void **out, dpt_err *err)
{
  int rc = dpt_check_alloc("cuda alloc", out, err);
  if (rc) return rc;
  *out = NULL;
  cuda_ctx *c = ctx;
  rc = DPT_CHECK_CUDA(cudaSetDevice(c->ordinal), err);
  if (!rc) rc = DPT_CHECK_CUDA(cudaMalloc(out, bytes), err);
  if (!rc) atomic_fetch_add(&c->allocs, 1);
  return rc;
}

/* Each of these selects the device: from a thread that never chose one, CUDA would make a context
 * on device 0 for it. */
static void cuda_free(void *ctx, void *p)
{
  select_device_quietly(ctx);
  if (p && idle_quietly(ctx, "free")) (void)cudaFree(p);
}

static int cuda_host_alloc(void *ctx, size_t bytes, void **out, dpt_err *err)
{
  int rc = dpt_check_alloc("cuda host_alloc", out, err);
  if (rc) return rc;
  *out = NULL;
  rc = DPT_CHECK_CUDA(cudaSetDevice(((cuda_ctx *)ctx)->ordinal), err);
  return rc ? rc : DPT_CHECK_CUDA(cudaMallocHost(out, bytes), err);
}

static void cuda_host_free(void *ctx, void *p)
{
  select_device_quietly(ctx);
  if (p && idle_quietly(ctx, "host_free")) (void)cudaFreeHost(p);
}

/* Queued on the stream. From page-locked host memory the copy is asynchronous:
 * keep src as it is until the next sync. */
static int cuda_copy_h2d(void *ctx, void *dst, const void *src, size_t bytes, dpt_err *err)
{
  cuda_ctx *c = ctx;
  int rc = dpt_check_copy("cuda copy_h2d", bytes, dst, src, err);
  if (rc || !bytes) return rc;
  rc = DPT_CHECK_CUDA(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, c->stream), err);
  if (!rc) atomic_fetch_add(&c->h2d, 1);
  return rc;
}

static int cuda_copy_d2h_queued(void *ctx, void *dst, const void *src, size_t bytes,
                                dpt_err *err)
{
  cuda_ctx *c = ctx;
  int rc = dpt_check_copy("cuda copy_d2h", bytes, dst, src, err);
  if (rc || !bytes) return rc;
  rc = DPT_CHECK_CUDA(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, c->stream), err);
  if (!rc) atomic_fetch_add(&c->d2h, 1);
  return rc;
}

/* Waits for the stream, so the host can read dst on return. */
static int cuda_copy_d2h(void *ctx, void *dst, const void *src, size_t bytes, dpt_err *err)
{
  int rc = cuda_copy_d2h_queued(ctx, dst, src, bytes, err);
  return rc || !bytes ? rc : wait_stream(ctx, "copy_d2h", err);
}

static int cuda_copy_d2d(void *ctx, void *dst, const void *src, size_t bytes, dpt_err *err)
{
  int rc = dpt_check_copy("cuda copy_d2d", bytes, dst, src, err);
  if (rc || !bytes) return rc;
  return DPT_CHECK_CUDA(
      cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, ((cuda_ctx *)ctx)->stream), err);
}

static int cuda_zero(void *ctx, void *p, size_t bytes, dpt_err *err)
{
  int rc = dpt_check_zero("cuda zero", bytes, p, err);
  if (rc || !bytes) return rc;
  return DPT_CHECK_CUDA(cudaMemsetAsync(p, 0, bytes, ((cuda_ctx *)ctx)->stream), err);
}

static int cuda_sync(void *ctx, dpt_err *err)
{
  return wait_stream(ctx, "sync", err);
}

static int check_mark(int m, const char *where, dpt_err *err)
{
  if (m >= 0 && m < DPT_DEV_MARKS) return DPT_OK;
  return dpt_err_set(err, DPT_EINTERNAL, "cuda %s: mark %d: must be below %d", where, m,
                     DPT_DEV_MARKS);
}

static int cuda_mark(void *ctx, int m, dpt_err *err)
{
  cuda_ctx *c = ctx;
  int rc = check_mark(m, "mark", err);
  return rc ? rc : DPT_CHECK_CUDA(cudaEventRecord(c->marks[m], c->stream), err);
}

static int cuda_wait_mark(void *ctx, int m, dpt_err *err)
{
  cuda_ctx *c = ctx;
  int rc = check_mark(m, "wait_mark", err);
  return rc ? rc : wait_event(c, c->marks[m], "wait_mark", err);
}

static int cuda_gemm(void *ctx, bool ta, bool tb, int m, int n, int k, float alpha, const float *a,
                     int lda, const float *b, int ldb, float beta, float *c, int ldc, dpt_err *err)
{
  int rc = dpt_check_gemm("cuda gemm", ta, tb, m, n, k, a, lda, b, ldb, c, ldc, err);
  if (rc || m == 0 || n == 0) return rc;
  dpt_gemm_colmajor g = dpt_gemm_map(ta, tb, m, n, k, lda, ldb, ldc);
  const float *first = g.a_is_b ? b : a, *second = g.a_is_b ? a : b;
  /* alpha and beta are read from host memory before the call returns (host
   * pointer mode). */
  cuda_ctx *x = ctx;
  return launched(x, DPT_CHECK_CUBLAS(cublasSgemm(x->blas, blas_op(g.transa), blas_op(g.transb),
                                                  g.m, g.n, g.k, &alpha, first, g.lda, second,
                                                  g.ldb, &beta, c, g.ldc),
                                      err));
}

/* Grows the ones vector to n. The old one may still be read by queued work:
 * wait first. A run makes it at open, as long as its batches (dpt_device_options.max_rows), so
 * no step grows it. */
static int ensure_ones(cuda_ctx *c, size_t n, dpt_err *err)
{
  if (n <= c->ones_len) return DPT_OK;
  int rc = wait_stream(c, "col_sum", err);
  if (!rc) rc = DPT_CHECK_CUDA(cudaFree(c->ones), err);
  c->ones = NULL;
  c->ones_len = 0;
  void *p = NULL;
  if (!rc) rc = DPT_CHECK_CUDA(cudaMalloc(&p, n * sizeof(float)), err);
  if (!rc) atomic_fetch_add(&c->allocs, 1);
  if (!rc) rc = launched(c, DPT_CHECK_CUDA(dpt_launch_fill(c->stream, n, 1.f, p), err));
  if (rc) {
    (void)cudaFree(p);
    return rc;
  }
  c->ones = p;
  c->ones_len = n;
  return DPT_OK;
}

/* rows or cols = 0 leaves y as it is, as on the CPU backend. */
static int cuda_col_sum(void *ctx, int rows, int cols, float alpha, const float *x, float beta,
                        float *y, dpt_err *err)
{
  cuda_ctx *c = ctx;
  int rc = dpt_check_col_sum("cuda col_sum", rows, cols, x, y, err);
  if (rc || rows == 0 || cols == 0) return rc;
  rc = ensure_ones(c, (size_t)rows, err);
  if (rc) return rc;
  /* Row-major x (rows x cols) is column-major cols x rows with ld = cols: y =
   * alpha*x*ones. */
  return launched(c, DPT_CHECK_CUBLAS(cublasSgemv(c->blas, CUBLAS_OP_N, cols, rows, &alpha, x,
                                                  cols, c->ones, 1, &beta, y, 1),
                                      err));
}

static int cuda_bias_act(void *ctx, int rows, int cols, const float *bias, bool relu, float *y,
                         dpt_err *err)
{
  int rc = dpt_check_bias_act("cuda bias_act", rows, cols, bias, y, err);
  if (rc) return rc;
  return launched(ctx, DPT_CHECK_CUDA(dpt_launch_bias_act(((cuda_ctx *)ctx)->stream,
                                                         (size_t)rows * (size_t)cols, cols, bias,
                                                         relu ? 1 : 0, y),
                                     err));
}

static int cuda_relu_bwd(void *ctx, size_t n, const float *y, const float *dy, float *dx,
                         dpt_err *err)
{
  int rc = dpt_check_relu_bwd("cuda relu_bwd", n, y, dy, dx, err);
  return rc ? rc
            : launched(ctx, DPT_CHECK_CUDA(
                                dpt_launch_relu_bwd(((cuda_ctx *)ctx)->stream, n, y, dy, dx), err));
}

/* Labels live on the device, so their range is the caller's promise here (the
 * CPU backend checks it). */
static int cuda_softmax_xent(void *ctx, int rows, int cols, const float *logits,
                             const int32_t *labels, float grad_scale, float *dlogits,
                             float *row_loss, int32_t *row_argmax, dpt_err *err)
{
  int rc = dpt_check_softmax_xent("cuda softmax_xent", rows, cols, logits, labels, dlogits,
                                  row_loss, row_argmax, err);
  if (rc) return rc;
  return launched(ctx, DPT_CHECK_CUDA(dpt_launch_softmax_xent(((cuda_ctx *)ctx)->stream, rows, cols,
                                                             logits, labels, grad_scale, dlogits,
                                                             row_loss, row_argmax),
                                     err));
}

static int cuda_sgd_step(void *ctx, size_t n, float *params, const float *grads, float *velocity,
                         float lr, float momentum, float weight_decay, const float *skip_votes,
                         dpt_err *err)
{
  int rc = dpt_check_sgd_step("cuda sgd_step", n, params, grads, velocity, err);
  if (rc) return rc;
  return launched(ctx, DPT_CHECK_CUDA(dpt_launch_sgd_step(((cuda_ctx *)ctx)->stream, n, params,
                                                         grads, velocity, lr, momentum,
                                                         weight_decay, skip_votes),
                                     err));
}

static int cuda_add(void *ctx, size_t n, const float *x, float *acc, dpt_err *err)
{
  int rc = dpt_check_add("cuda add", n, x, acc, err);
  return rc ? rc
            : launched(ctx, DPT_CHECK_CUDA(dpt_launch_add(((cuda_ctx *)ctx)->stream, n, x, acc),
                                           err));
}

static int cuda_has_nonfinite(void *ctx, size_t n, const float *x, bool *out, dpt_err *err)
{
  cuda_ctx *c = ctx;
  int rc = dpt_check_has_nonfinite("cuda has_nonfinite", n, x, out, err);
  if (rc) return rc;
  int found = 0;
  rc = DPT_CHECK_CUDA(cudaMemsetAsync(c->flag, 0, sizeof found, c->stream), err);
  if (!rc) rc = launched(c, DPT_CHECK_CUDA(dpt_launch_flag_nonfinite(c->stream, n, x, c->flag), err));
  if (!rc)
    rc = DPT_CHECK_CUDA(
        cudaMemcpyAsync(&found, c->flag, sizeof found, cudaMemcpyDeviceToHost, c->stream), err);
  if (!rc) atomic_fetch_add(&c->d2h, 1);
  if (!rc) rc = wait_stream(c, "has_nonfinite", err);
  if (!rc) *out = found != 0;
  return rc;
}

static int cuda_vote(void *ctx, size_t n, float *grads, const float *gate, dpt_err *err)
{
  cuda_ctx *c = ctx;
  float *tally = grads + n;
  int rc = DPT_CHECK_CUDA(cudaMemsetAsync(tally, 0, DPT_TALLY_FLOATS * sizeof(float), c->stream),
                          err);
  return rc ? rc : launched(c, DPT_CHECK_CUDA(dpt_launch_vote(c->stream, n, grads, gate, tally),
                                              err));
}

static int cuda_ledger_commit(void *ctx, dpt_ledger *ledger, const float *tally, int rows,
                              const float *row_loss, const int32_t *row_argmax,
                              const int32_t *labels, long step, int max_skips,
                              bool nonfinite_stop, dpt_err *err)
{
  cuda_ctx *c = ctx;
  return launched(c, DPT_CHECK_CUDA(dpt_launch_ledger_commit(c->stream, ledger, tally, rows,
                                                             row_loss, row_argmax, labels,
                                                             (double)step, max_skips,
                                                             nonfinite_stop ? 1 : 0),
                                    err));
}

static bool cuda_sgd_step_commit(void *ctx, size_t n, float *params, const float *grads,
                                 float *velocity, float lr, float momentum, float weight_decay,
                                 const float *tally, const dpt_ledger_step *step, int *rc,
                                 dpt_err *err)
{
  cuda_ctx *c = ctx;
  *rc = dpt_check_sgd_step("cuda sgd_step_commit", n, params, grads, velocity, err);
  if (!*rc)
    *rc = launched(c, DPT_CHECK_CUDA(dpt_launch_sgd_step_commit(c->stream, n, params, grads,
                                                                velocity, lr, momentum,
                                                                weight_decay, tally, step),
                                     err));
  return true;
}

static size_t cuda_relu_mask_bytes(void *ctx, int rows, int cols)
{
  return ((cuda_ctx *)ctx)->lt ? cuda_lt_mask_bytes(rows, cols) : 0;
}

/* The fused layer ops (kernels/cuda_lt.h), with the sizes every gemm checks. */
static bool cuda_linear_fwd(void *ctx, int rows, int in, int out, const float *x, const float *w,
                            const float *bias, bool relu, float *y, void *mask, int *rc,
                            dpt_err *err)
{
  cuda_ctx *c = ctx;
  if (!c->lt) return false;
  *rc = dpt_check_gemm("cuda linear_fwd", false, true, rows, out, in, x, in, w, in, y, out, err);
  if (!*rc && rows > 0 && out > 0)
    *rc = launched(c, cuda_lt_linear_fwd(c->lt, rows, in, out, x, w, bias, relu, y, mask, err));
  return true;
}

static bool cuda_linear_bwd_weights(void *ctx, int rows, int in, int out, const float *d,
                                    const float *x, float *gw, float *gb, int *rc, dpt_err *err)
{
  cuda_ctx *c = ctx;
  if (!c->lt) return false;
  *rc = dpt_check_gemm("cuda linear_bwd_weights", true, false, out, in, rows, d, out, x, in, gw,
                       in, err);
  if (!*rc && out > 0 && in > 0)
    *rc = launched(c, cuda_lt_linear_bwd_weights(c->lt, rows, in, out, d, x, gw, gb, err));
  return true;
}

static bool cuda_linear_bwd_data(void *ctx, int rows, int in, int out, const float *d,
                                 const float *w, const void *mask, float *prev, int *rc,
                                 dpt_err *err)
{
  cuda_ctx *c = ctx;
  if (!c->lt) return false;
  *rc = dpt_check_gemm("cuda linear_bwd_data", false, false, rows, in, out, d, out, w, in, prev,
                       in, err);
  if (!*rc && rows > 0 && in > 0)
    *rc = launched(c, cuda_lt_linear_bwd_data(c->lt, rows, in, out, d, w, mask, prev, err));
  return true;
}

static void *cuda_stream(void *ctx) { return ((cuda_ctx *)ctx)->stream; }

/* The emulated device's own counters where it runs (they also see the NCCL collectives and the
 * communicator's waits), else this backend's. */
static void cuda_counts(void *ctx, dpt_dev_counts *out)
{
  cuda_ctx *c = ctx;
  if (dpt_cuda_emu_counts(c->ordinal, out)) return;
  *out = (dpt_dev_counts){.launches = atomic_load(&c->launches),
                          .host_waits = atomic_load(&c->host_waits),
                          .h2d = atomic_load(&c->h2d),
                          .d2h = atomic_load(&c->d2h),
                          .allocs = atomic_load(&c->allocs)};
}

static int cuda_im2col(void *ctx, dpt_image g, const float *x, float *cols, dpt_err *err)
{
  int rc = dpt_check_image("cuda im2col", g, false, x, cols, NULL, err);
  return rc ? rc
            : launched(ctx, DPT_CHECK_CUDA(dpt_launch_im2col(((cuda_ctx *)ctx)->stream, g, x, cols),
                                           err));
}

static int cuda_col2im(void *ctx, dpt_image g, const float *dcols, float *dx, dpt_err *err)
{
  int rc = dpt_check_image("cuda col2im", g, false, dcols, dx, NULL, err);
  return rc ? rc
            : launched(ctx,
                       DPT_CHECK_CUDA(dpt_launch_col2im(((cuda_ctx *)ctx)->stream, g, dcols, dx),
                                      err));
}

static int cuda_maxpool(void *ctx, dpt_image g, const float *x, float *y, dpt_err *err)
{
  int rc = dpt_check_image("cuda maxpool", g, true, x, y, NULL, err);
  return rc ? rc
            : launched(ctx, DPT_CHECK_CUDA(dpt_launch_maxpool(((cuda_ctx *)ctx)->stream, g, x, y),
                                           err));
}

/* Entries no window covers get no gradient: dx is zeroed first, on the stream. */
static int cuda_maxpool_bwd(void *ctx, dpt_image g, bool relu, const float *x, const float *dy,
                            float *dx, dpt_err *err)
{
  cuda_ctx *c = ctx;
  int rc = dpt_check_image("cuda maxpool_bwd", g, true, x, dy, dx, err);
  size_t bytes = (size_t)g.rows * (size_t)g.h * (size_t)g.w * (size_t)g.c * sizeof(float);
  if (!rc && bytes) rc = DPT_CHECK_CUDA(cudaMemsetAsync(dx, 0, bytes, c->stream), err);
  return rc ? rc
            : launched(c, DPT_CHECK_CUDA(dpt_launch_maxpool_bwd(c->stream, g, relu, x, dy, dx), err));
}

static const dpt_device_ops cuda_ops = {
    .name = "cuda",
    .destroy = cuda_destroy,
    .alloc = cuda_alloc,
    .free = cuda_free,
    .host_alloc = cuda_host_alloc,
    .host_free = cuda_host_free,
    .copy_h2d = cuda_copy_h2d,
    .copy_d2h = cuda_copy_d2h,
    .copy_d2d = cuda_copy_d2d,
    .copy_d2h_queued = cuda_copy_d2h_queued,
    .zero = cuda_zero,
    .sync = cuda_sync,
    .mark = cuda_mark,
    .wait_mark = cuda_wait_mark,
    .gemm = cuda_gemm,
    .col_sum = cuda_col_sum,
    .bias_act = cuda_bias_act,
    .relu_bwd = cuda_relu_bwd,
    .softmax_xent = cuda_softmax_xent,
    .sgd_step = cuda_sgd_step,
    .add = cuda_add,
    .has_nonfinite = cuda_has_nonfinite,
    .vote = cuda_vote,
    .ledger_commit = cuda_ledger_commit,
    .stream = cuda_stream,
    .counts = cuda_counts,
    .relu_mask_bytes = cuda_relu_mask_bytes,
    .linear_fwd = cuda_linear_fwd,
    .linear_bwd_weights = cuda_linear_bwd_weights,
    .linear_bwd_data = cuda_linear_bwd_data,
    .sgd_step_commit = cuda_sgd_step_commit,
    .im2col = cuda_im2col,
    .col2im = cuda_col2im,
    .maxpool = cuda_maxpool,
    .maxpool_bwd = cuda_maxpool_bwd,
};

/* Runs in the worker's own thread: cudaSetDevice binds that thread to the
 * device. */
int dpt_cuda_backend_open(int ordinal, const dpt_device_options *opts, dpt_device *out,
                          dpt_err *err)
{
  int count = 0;
  dpt_err why = {0};
  dpt_cuda_backend_count(&count, &why);
  if (count == 0) return dpt_err_set(err, DPT_EDEVICE, "cuda: no usable device: %s", why.msg);
  if (ordinal >= count)
    return dpt_err_set(err, DPT_EINPUT, "cuda: device %d requested, but %d found", ordinal, count);
  cuda_ctx *c = calloc(1, sizeof *c);
  if (!c) return dpt_err_set(err, DPT_ENOMEM, "cuda: out of memory for device %d", ordinal);
  c->ordinal = ordinal;
  c->wait_s = opts->wait_s;
  int rc = DPT_CHECK_CUDA(cudaSetDevice(ordinal), err);
  if (!rc) rc = DPT_CHECK_CUDA(cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking), err);
  if (!rc) rc = DPT_CHECK_CUBLAS(cublasCreate(&c->blas), err);
  if (!rc) rc = DPT_CHECK_CUBLAS(cublasSetStream(c->blas, c->stream), err);
  size_t lt_allocs = 0;
  if (!rc) rc = cuda_lt_open(c->stream, &c->lt, &lt_allocs, err);
  atomic_fetch_add(&c->allocs, lt_allocs);
  if (!rc) rc = DPT_CHECK_CUDA(cudaEventCreateWithFlags(&c->done, cudaEventDisableTiming), err);
  for (int m = 0; m < DPT_DEV_MARKS && !rc; m++)
    rc = DPT_CHECK_CUDA(cudaEventCreateWithFlags(&c->marks[m], cudaEventDisableTiming), err);
  if (!rc) rc = DPT_CHECK_CUDA(cudaMalloc((void **)&c->flag, sizeof(int)), err);
  if (!rc) atomic_fetch_add(&c->allocs, 1);
  if (!rc && opts->max_rows > 0) rc = ensure_ones(c, (size_t)opts->max_rows, err);
  if (rc) {
    cuda_destroy(c);
    return rc;
  }
  *out = (dpt_device){.vt = &cuda_ops, .ctx = c, .kind = DPT_DEVICE_CUDA, .index = ordinal};
  return DPT_OK;
}
