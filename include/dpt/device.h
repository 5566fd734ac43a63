/* A compute device behind one table of functions (one table per backend: cpu, cuda).
 * Matrices are row-major. Pointers passed to ops are device pointers (host memory on the CPU
 * backend). Callers use the dpt_dev_* wrappers, never obj->vt->fn. Every op returns 0 or a
 * DPT_E* code and fills err. Ops may run asynchronously on the device's stream; dpt_dev_sync and
 * the d2h copy wait for them. */
#ifndef DPT_DEVICE_H
#define DPT_DEVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dpt/ledger.h"
#include "dpt/status.h"

typedef enum { DPT_DEVICE_CPU = 0, DPT_DEVICE_CUDA = 1 } dpt_device_kind;

/* The work a CUDA device was given since the process started (docs/gpu.md, the report's `cuda`):
 * launches (kernels, cuBLAS calls and NCCL collectives queued), host waits (waits that found the
 * device's work unfinished), copies each way and allocations. */
/* Marks a stream holds at once (dpt_device_ops.mark): the ps strategy's copies shard by shard. */
enum { DPT_DEV_MARKS = 16 };

typedef struct dpt_dev_counts {
  uint64_t launches, host_waits, h2d, d2h, allocs;
} dpt_dev_counts;
/* A batch of images for the conv and pooling ops: rows samples of h x w pixels of c channels,
 * channels last (x[((r * h + y) * w + x) * c + ch]); k is the conv's kernel size or the pool's
 * window. */
typedef struct dpt_image {
  int rows, h, w, c, k;
} dpt_image;

/* A conv (its ReLU fused when relu) and the max pooling right after it, for the pair's passes:
 * g is the conv's input, out_c its channels, pool the window. cols (the conv's patches) and conv_y
 * (of the conv output's size) are kept from the forward for the backward: conv_y holds the conv's
 * output where the pair is composed, and what the backend's backward needs where it is fused
 * (the CPU: each pooled value's window entry). scratch, of conv_y's size, is the passes'. */
typedef struct dpt_conv_pool {
  dpt_image g;
  int out_c, pool;
  bool relu;
  const float *w, *bias;
  float *cols, *conv_y, *scratch;
} dpt_conv_pool;

typedef struct dpt_device_ops {
  const char *name; /* "cpu" or "cuda" */
  void (*destroy)(void *ctx);

  int (*alloc)(void *ctx, size_t bytes, void **out, dpt_err *err);
  void (*free)(void *ctx, void *p);
  /* Page-locked host memory for fast copies (plain malloc on the CPU backend). */
  int (*host_alloc)(void *ctx, size_t bytes, void **out, dpt_err *err);
  void (*host_free)(void *ctx, void *p);
  int (*copy_h2d)(void *ctx, void *dst, const void *src, size_t bytes, dpt_err *err);
  int (*copy_d2h)(void *ctx, void *dst, const void *src, size_t bytes, dpt_err *err);
  int (*copy_d2d)(void *ctx, void *dst, const void *src, size_t bytes, dpt_err *err);
  /* copy_d2h without the wait: dst (page-locked) is the host's to read after the next sync. */
  int (*copy_d2h_queued)(void *ctx, void *dst, const void *src, size_t bytes, dpt_err *err);
  int (*zero)(void *ctx, void *p, size_t bytes, dpt_err *err);
  int (*sync)(void *ctx, dpt_err *err);
  /* mark(m) marks the work queued so far (m < DPT_DEV_MARKS; a later mark(m) moves the mark);
   * wait_mark(m) waits, bounded as sync is, until the work before mark m has run: a part of the
   * queue, so the host can take up what it copied while the rest still runs. NULL on a backend
   * that runs each op as it is called (the CPU): nothing to wait for. */
  int (*mark)(void *ctx, int m, dpt_err *err);
  int (*wait_mark)(void *ctx, int m, dpt_err *err);

  /* c[m x n] = alpha * op(a) * op(b) + beta * c, row-major, op(a) is m x k, op(b) is k x n. */
  int (*gemm)(void *ctx, bool ta, bool tb, int m, int n, int k, float alpha, const float *a,
              int lda, const float *b, int ldb, float beta, float *c, int ldc, dpt_err *err);
  /* y[c] = alpha * sum_r x[r][c] + beta * y[c] for x[rows x cols]: bias gradients. */
  int (*col_sum)(void *ctx, int rows, int cols, float alpha, const float *x, float beta, float *y,
                 dpt_err *err);
  /* y[r][c] += bias[c], then, when relu, y = max(y, 0). */
  int (*bias_act)(void *ctx, int rows, int cols, const float *bias, bool relu, float *y,
                  dpt_err *err);
  /* dx[i] = y[i] > 0 ? dy[i] : 0, where y is the ReLU output (dx may alias dy). */
  int (*relu_bwd)(void *ctx, size_t n, const float *y, const float *dy, float *dx, dpt_err *err);
  /* Per row of logits[rows x cols] with labels[rows] in [0, cols): numerically stable softmax
   * cross-entropy. dlogits = (softmax - onehot) * grad_scale (may alias logits), row_loss[r] the
   * loss of row r, row_argmax[r] the predicted class. */
  int (*softmax_xent)(void *ctx, int rows, int cols, const float *logits, const int32_t *labels,
                      float grad_scale, float *dlogits, float *row_loss, int32_t *row_argmax,
                      dpt_err *err);
  /* SGD with momentum and weight decay over n elements (see kn_sgd_step_at in kernels/kn_math.h).
   * Unless skip_votes is NULL, it points to device memory holding an exchange's summed skip votes,
   * read by the device when the step runs: if they skip it (kn_step_skipped), nothing changes. So a
   * decision summed on the device gates the step without a trip to the host. */
  int (*sgd_step)(void *ctx, size_t n, float *params, const float *grads, float *velocity,
                  float lr, float momentum, float weight_decay, const float *skip_votes,
                  dpt_err *err);
  /* acc[i] += x[i]: the in-process reduction of gradients (fixed order is the caller's job). */
  int (*add)(void *ctx, size_t n, const float *x, float *acc, dpt_err *err);
  /* *out = whether any of x[0..n) is NaN or +-Inf (the gradient check before an exchange). Waits
   * for the queued work: the answer is on the host when it returns. */
  int (*has_nonfinite)(void *ctx, size_t n, const float *x, bool *out, dpt_err *err);
  /* This worker's votes on the device, in the tally after grads[0..n) (dpt/votes.h): skip and own
   * 1 when some grads[i] is NaN or Inf or *gate (device memory, dpt_ledger.gate) is set, else 0;
   * stop 0. Nothing waits: the exchange carries the tally. */
  int (*vote)(void *ctx, size_t n, float *grads, const float *gate, dpt_err *err);
  /* kn_ledger_commit (kernels/kn_ledger.h) on the device, after the exchange that left the summed
   * tally: ledger, tally, and the rows' losses, predictions and labels are device memory. */
  int (*ledger_commit)(void *ctx, dpt_ledger *ledger, const float *tally, int rows,
                       const float *row_loss, const int32_t *row_argmax, const int32_t *labels,
                       long step, int max_skips, bool nonfinite_stop, dpt_err *err);
  /* The stream the device queues its work on, a cudaStream_t (NULL on the CPU backend, which
   * runs each op as it is called): a communicator queues collectives behind that work. */
  void *(*stream)(void *ctx);
  /* *out = the device's counts (NULL on the CPU backend, which has none to count). */
  void (*counts)(void *ctx, dpt_dev_counts *out);

  /* A dense layer's passes, each one fused call (cuBLASLt's epilogues on CUDA). NULL, or a
   * backend that finds them unsupported: dpt_dev_linear_* compose them from gemm, bias_act,
   * col_sum and relu_bwd, which is what the CPU runs. The ReLU mask (relu_mask_bytes for a
   * rows x cols output; 0: the backend keeps none, and the backward pass reads the outputs)
   * is the backend's own format: only these ops read it. */
  size_t (*relu_mask_bytes)(void *ctx, int rows, int cols);
  /* y[rows x out] = x[rows x in] * w[out x in]^T + bias, then max(y, 0) when relu, keeping the
   * ReLU's mask in mask (unless NULL). False: not fused here (the wrapper composes). */
  bool (*linear_fwd)(void *ctx, int rows, int in, int out, const float *x, const float *w,
                     const float *bias, bool relu, float *y, void *mask, int *rc, dpt_err *err);
  /* gw[out x in] = d^T x and gb = the column sums of d[rows x out]. */
  bool (*linear_bwd_weights)(void *ctx, int rows, int in, int out, const float *d,
                             const float *x, float *gw, float *gb, int *rc, dpt_err *err);
  /* prev[rows x in] = d * w, zero where the ReLU that made the layer's input x was (mask, from
   * linear_fwd). */
  bool (*linear_bwd_data)(void *ctx, int rows, int in, int out, const float *d, const float *w,
                          const void *mask, float *prev, int *rc, dpt_err *err);
  /* sgd_step gated by tally's summed skip votes, and step's ledger_commit from the same tally,
   * in one launch. False: not fused here (the wrapper runs the two). */
  bool (*sgd_step_commit)(void *ctx, size_t n, float *params, const float *grads,
                          float *velocity, float lr, float momentum, float weight_decay,
                          const float *tally, const dpt_ledger_step *step, int *rc,
                          dpt_err *err);

  /* Conv and pooling (see dpt_image). Bodies in kernels/kn_math.h. */
  /* cols[rows x oh x ow][k x k x c] = the k x k patch (zero padding k/2, stride 1) around each
   * output pixel of x, oh and ow = kn_conv_out(h, k), kn_conv_out(w, k). */
  int (*im2col)(void *ctx, dpt_image g, const float *x, float *cols, dpt_err *err);
  /* dx[rows x h x w x c] = im2col's adjoint applied to dcols (each pixel sums its patch entries). */
  int (*col2im)(void *ctx, dpt_image g, const float *dcols, float *dx, dpt_err *err);
  /* y[rows x h/k x w/k x c] = the max of each k x k window (stride k) of x. */
  int (*maxpool)(void *ctx, dpt_image g, const float *x, float *y, dpt_err *err);
  /* dx = each window's dy at its argmax entry (kn_pool_argmax's tie rule), 0 elsewhere; with
   * relu, x is a ReLU's output and that ReLU's backward is fused: 0 also where x is not > 0. */
  int (*maxpool_bwd)(void *ctx, dpt_image g, bool relu, const float *x, const float *dy,
                     float *dx, dpt_err *err);
  /* A conv's passes, each one fused call (the CPU's, a few images at a time so that each
   * block's patches stay in cache between the ops that write and read them). NULL, or false
   * (not fused here): dpt_dev_conv_* compose them from im2col, linear_fwd, gemm and col2im.
   * conv_fwd: cols = im2col(x) (kept for the weight gradient), y[pixels x out_c] = cols w^T +
   * bias, then the ReLU when relu (its mask in mask, unless NULL). */
  bool (*conv_fwd)(void *ctx, dpt_image g, int out_c, const float *x, const float *w,
                   const float *bias, bool relu, float *cols, float *y, void *mask, int *rc,
                   dpt_err *err);
  /* dx = col2im(d w), d[pixels x out_c]; cols (as large as im2col's output) is scratch. */
  bool (*conv_bwd_data)(void *ctx, dpt_image g, int out_c, const float *d, const float *w,
                        float *cols, float *dx, int *rc, dpt_err *err);
  /* A conv and its max pooling (dpt_conv_pool), each pass one call (the CPU's, a few images at a
   * time: each block's conv output is pooled, and its gradient formed and used, while in cache).
   * NULL, or false: dpt_dev_conv_pool_* compose them from the ops above.
   * conv_pool_fwd: y = maxpool(conv_fwd(x)), the conv's output into conv_y (composed).
   * conv_pool_bwd: from dy (y's gradient), the conv output's gradient d = maxpool_bwd(relu, the
   * conv's output, dy) (into scratch, composed), gw and gb the conv's weight and bias gradients
   * from d, and dx = col2im(d w) unless dx is NULL (cols is scratch after the weight
   * gradient). */
  bool (*conv_pool_fwd)(void *ctx, const dpt_conv_pool *p, const float *x, float *y, int *rc,
                        dpt_err *err);
  bool (*conv_pool_bwd)(void *ctx, const dpt_conv_pool *p, const float *dy, float *gw,
                        float *gb, float *dx, int *rc, dpt_err *err);
} dpt_device_ops;

typedef struct dpt_device {
  const dpt_device_ops *vt;
  void *ctx;
  dpt_device_kind kind;
  int index; /* CUDA ordinal, or the worker's index on the CPU backend */
} dpt_device;

/* --- opening devices (kernels/device_registry.c: the one place that knows the backends) --- */

/* Opens device `index` of `kind`. blas_threads applies to the CPU backend (0 = leave as is). */
int dpt_device_open(dpt_device_kind kind, int index, int blas_threads, dpt_device *out,
                    dpt_err *err);

/* What dpt_device_open_with takes beyond the device. */
typedef struct dpt_device_options {
  int blas_threads; /* the CPU backend's BLAS threads, and its image ops' threads (0 = leave
                     * the BLAS as is, image ops on the calling thread) */
  /* The CUDA backend's bound on each wait for its stream (sync, the d2h copy, has_nonfinite, and
   * the waits before a free and at close): past it the op fails with DPT_ETIMEOUT naming the
   * device and what it waited for, and the device frees nothing more (a free would wait for the
   * stuck work). The CPU backend's bound on an image op's wait for its helper threads. 0: no
   * bound. A run passes --timeout. */
  double wait_s;
  /* The most rows a col_sum will be given (a replica's batch rows): the CUDA backend makes its
   * ones vector that long at open, so that no training step allocates. 0: as col_sum needs. */
  int max_rows;
} dpt_device_options;

int dpt_device_open_with(dpt_device_kind kind, int index, const dpt_device_options *opts,
                         dpt_device *out, dpt_err *err);
void dpt_device_close(dpt_device *dev);

/* Address space the backend maps in host memory for `workers` devices of `kind` opened with
 * `blas_threads`, beyond the buffers a caller allocates: the CPU backend's BLAS work buffers.
 * A run checks it against ulimit -v before opening a device (docs/reliability.md). */
size_t dpt_device_host_reserve(dpt_device_kind kind, int workers, int blas_threads);

/* The CPU backend's BLAS threads now: OpenBLAS's calling thread and its pool. */
int dpt_cpu_blas_threads(void);

/* Number of usable CUDA devices: 0 (and a reason in err->msg, code DPT_OK) when the build has no
 * CUDA or the runtime finds no driver or device. */
int dpt_cuda_device_count(int *count, dpt_err *why);

/* The PCI bus id of the first CUDA device this process sees ("0000:0d:00.0") into buf: the same
 * string in processes that see the same GPU first. false and "" without one. */
bool dpt_cuda_first_device_id(char *buf, size_t size);

/* The emulated CUDA device's counters of device `ordinal` since the process started, as one JSON
 * object ({"kernels": 120, "blas": 40, ...}, docs/emulator.md) into buf: false, buf empty, when the
 * build has no emulator (cmake -DDPT_CUDA_EMU=ON) or there is no such device. */
bool dpt_cuda_emu_counters_json(int ordinal, char *buf, size_t size);
/* The same counters as dpt_dev_counts (launches: kernels + cuBLAS + NCCL): false without them. */
bool dpt_cuda_emu_counts(int ordinal, dpt_dev_counts *out);

/* One line naming the compiled backends and versions, for --version. */
const char *dpt_backends_summary(void);

/* The BLAS library that runs a backend's GEMMs and, for OpenBLAS, the kernel it chose for this
 * CPU ("OpenBLAS 0.3.21, kernel Haswell"; "cuBLAS 13.1.0"). Results repeat bit for bit only with
 * the same library and kernel: kernels differ in the order they add products. */
void dpt_blas_summary(dpt_device_kind kind, char *buf, size_t size);

/* --- wrappers callers use --- */
int dpt_dev_alloc(dpt_device *d, size_t bytes, void **out, dpt_err *err);
void dpt_dev_free(dpt_device *d, void *p);
int dpt_dev_host_alloc(dpt_device *d, size_t bytes, void **out, dpt_err *err);
void dpt_dev_host_free(dpt_device *d, void *p);
int dpt_dev_copy_h2d(dpt_device *d, void *dst, const void *src, size_t bytes, dpt_err *err);
int dpt_dev_copy_d2h(dpt_device *d, void *dst, const void *src, size_t bytes, dpt_err *err);
int dpt_dev_copy_d2h_queued(dpt_device *d, void *dst, const void *src, size_t bytes,
                            dpt_err *err);
int dpt_dev_copy_d2d(dpt_device *d, void *dst, const void *src, size_t bytes, dpt_err *err);
int dpt_dev_zero(dpt_device *d, void *p, size_t bytes, dpt_err *err);
int dpt_dev_sync(dpt_device *d, dpt_err *err);
int dpt_dev_mark(dpt_device *d, int m, dpt_err *err);
int dpt_dev_wait_mark(dpt_device *d, int m, dpt_err *err);
int dpt_dev_gemm(dpt_device *d, bool ta, bool tb, int m, int n, int k, float alpha, const float *a,
                 int lda, const float *b, int ldb, float beta, float *c, int ldc, dpt_err *err);
int dpt_dev_col_sum(dpt_device *d, int rows, int cols, float alpha, const float *x, float beta,
                    float *y, dpt_err *err);
int dpt_dev_bias_act(dpt_device *d, int rows, int cols, const float *bias, bool relu, float *y,
                     dpt_err *err);
int dpt_dev_relu_bwd(dpt_device *d, size_t n, const float *y, const float *dy, float *dx,
                     dpt_err *err);
int dpt_dev_softmax_xent(dpt_device *d, int rows, int cols, const float *logits,
                         const int32_t *labels, float grad_scale, float *dlogits, float *row_loss,
                         int32_t *row_argmax, dpt_err *err);
int dpt_dev_sgd_step(dpt_device *d, size_t n, float *params, const float *grads, float *velocity,
                     float lr, float momentum, float weight_decay, const float *skip_votes,
                     dpt_err *err);
int dpt_dev_add(dpt_device *d, size_t n, const float *x, float *acc, dpt_err *err);
int dpt_dev_has_nonfinite(dpt_device *d, size_t n, const float *x, bool *out, dpt_err *err);
int dpt_dev_vote(dpt_device *d, size_t n, float *grads, const float *gate, dpt_err *err);
/* The end of an exchange's step on the device (dpt_device_ops.sgd_step_commit): tally is the
 * summed tally after grads[0..n). */
int dpt_dev_sgd_step_commit(dpt_device *d, size_t n, float *params, const float *grads,
                            float *velocity, float lr, float momentum, float weight_decay,
                            const float *tally, const dpt_ledger_step *step, dpt_err *err);
/* A dense layer's passes (dpt_device_ops.linear_fwd and the two below it). */
size_t dpt_dev_relu_mask_bytes(dpt_device *d, int rows, int cols);
int dpt_dev_linear_fwd(dpt_device *d, int rows, int in, int out, const float *x, const float *w,
                       const float *bias, bool relu, float *y, void *mask, dpt_err *err);
int dpt_dev_linear_bwd_weights(dpt_device *d, int rows, int in, int out, const float *dy,
                               const float *x, float *gw, float *gb, dpt_err *err);
/* mask: the layer input's ReLU mask from linear_fwd; x: that input, read where the backend keeps
 * no mask. */
int dpt_dev_linear_bwd_data(dpt_device *d, int rows, int in, int out, const float *dy,
                            const float *w, const float *x, const void *mask, float *prev,
                            dpt_err *err);
int dpt_dev_ledger_commit(dpt_device *d, dpt_ledger *ledger, const float *tally, int rows,
                          const float *row_loss, const int32_t *row_argmax, const int32_t *labels,
                          long step, int max_skips, bool nonfinite_stop, dpt_err *err);
/* The device's stream (see dpt_device_ops.stream): NULL on the CPU. */
void *dpt_dev_stream(const dpt_device *d);
/* The device's counts: false (and *out zero) on a device that keeps none (the CPU). */
bool dpt_dev_counts_read(dpt_device *d, dpt_dev_counts *out);
int dpt_dev_im2col(dpt_device *d, dpt_image g, const float *x, float *cols, dpt_err *err);
int dpt_dev_col2im(dpt_device *d, dpt_image g, const float *dcols, float *dx, dpt_err *err);
int dpt_dev_maxpool(dpt_device *d, dpt_image g, const float *x, float *y, dpt_err *err);
int dpt_dev_maxpool_bwd(dpt_device *d, dpt_image g, bool relu, const float *x, const float *dy,
                        float *dx, dpt_err *err);
/* A conv layer's passes (dpt_device_ops.conv_fwd and conv_bwd_data). */
int dpt_dev_conv_fwd(dpt_device *d, dpt_image g, int out_c, const float *x, const float *w,
                     const float *bias, bool relu, float *cols, float *y, void *mask,
                     dpt_err *err);
int dpt_dev_conv_bwd_data(dpt_device *d, dpt_image g, int out_c, const float *dy, const float *w,
                          float *cols, float *dx, dpt_err *err);
/* A conv and the max pooling after it (dpt_device_ops.conv_pool_fwd and conv_pool_bwd). */
int dpt_dev_conv_pool_fwd(dpt_device *d, const dpt_conv_pool *p, const float *x, float *y,
                          dpt_err *err);
int dpt_dev_conv_pool_bwd(dpt_device *d, const dpt_conv_pool *p, const float *dy, float *gw,
                          float *gb, float *dx, dpt_err *err);
/* The max pooling's input of a conv_pool: the conv's output. */
dpt_image dpt_conv_pool_image(const dpt_conv_pool *p);

#endif
