/* The cuBLASLt subset dptrain calls (kernels/cuda_lt.c), on OpenBLAS: single-precision
 * column-major matmuls D = alpha op(A) op(B) + beta C with the epilogues a dense layer needs
 * (bias, ReLU with its bit mask, ReLU gradient from that mask, bias gradient of B). The
 * descriptors live in their opaque structs; a matmul checks its operands as cuBLASLt does and
 * queues one OpenBLAS call and its epilogue on the stream, counted as one BLAS launch. The
 * mask's bit order (column-major, ld bits per column, least significant bit first) is this
 * emulator's: only the matmuls read it. */
#include <cblas.h>
#include <cublasLt.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "emu/emu_internal.h"

struct cublasLtContext {
  int device; /* physical */
};

/* What the opaque structs hold here. */
typedef struct lt_desc {
  cublasOperation_t ta, tb;
  cublasLtEpilogue_t epilogue;
  const void *bias;  /* bias, or the bias gradient's output */
  void *aux;         /* the ReLU mask */
  int64_t aux_ld;    /* in bits */
  bool valid;
} lt_desc;

typedef struct lt_layout {
  uint64_t rows, cols;
  int64_t ld;
} lt_layout;

_Static_assert(sizeof(lt_desc) <= sizeof(cublasLtMatmulDescOpaque_t), "desc fits");
_Static_assert(sizeof(lt_layout) <= sizeof(cublasLtMatrixLayoutOpaque_t), "layout fits");

cublasStatus_t cublasLtCreate(cublasLtHandle_t *handle)
{
  if (!handle) return CUBLAS_STATUS_INVALID_VALUE;
  int dev = emu_current_physical();
  if (dev < 0 || emu_sticky(dev) != cudaSuccess) return CUBLAS_STATUS_NOT_INITIALIZED;
  struct cublasLtContext *h = calloc(1, sizeof *h);
  if (!h) return CUBLAS_STATUS_ALLOC_FAILED;
  h->device = dev;
  *handle = h;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtDestroy(cublasLtHandle_t handle)
{
  if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
  free(handle);
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmulDescCreate(cublasLtMatmulDesc_t *desc, cublasComputeType_t compute,
                                        cudaDataType_t scale)
{
  if (!desc) return CUBLAS_STATUS_INVALID_VALUE;
  if (compute != CUBLAS_COMPUTE_32F || scale != CUDA_R_32F) return CUBLAS_STATUS_NOT_SUPPORTED;
  cublasLtMatmulDescOpaque_t *o = calloc(1, sizeof *o);
  if (!o) return CUBLAS_STATUS_ALLOC_FAILED;
  *(lt_desc *)o = (lt_desc){.ta = CUBLAS_OP_N, .tb = CUBLAS_OP_N,
                            .epilogue = CUBLASLT_EPILOGUE_DEFAULT, .valid = true};
  *desc = o;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmulDescDestroy(cublasLtMatmulDesc_t desc)
{
  free(desc);
  return CUBLAS_STATUS_SUCCESS;
}

/* Copies an attribute of exactly `size` bytes, or fails as cuBLASLt does. */
static cublasStatus_t take(void *dst, size_t size, const void *buf, size_t given)
{
  if (!buf || given != size) return CUBLAS_STATUS_INVALID_VALUE;
  memcpy(dst, buf, size);
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmulDescSetAttribute(cublasLtMatmulDesc_t desc,
                                              cublasLtMatmulDescAttributes_t attr,
                                              const void *buf, size_t size)
{
  if (!desc) return CUBLAS_STATUS_NOT_INITIALIZED;
  lt_desc *d = (lt_desc *)desc;
  int32_t v = 0;
  switch (attr) {
  case CUBLASLT_MATMUL_DESC_TRANSA:
  case CUBLASLT_MATMUL_DESC_TRANSB:
  case CUBLASLT_MATMUL_DESC_EPILOGUE: {
    cublasStatus_t rc = take(&v, sizeof v, buf, size);
    if (rc) return rc;
    if (attr == CUBLASLT_MATMUL_DESC_TRANSA) d->ta = (cublasOperation_t)v;
    if (attr == CUBLASLT_MATMUL_DESC_TRANSB) d->tb = (cublasOperation_t)v;
    if (attr == CUBLASLT_MATMUL_DESC_EPILOGUE) d->epilogue = (cublasLtEpilogue_t)v;
    return rc;
  }
  case CUBLASLT_MATMUL_DESC_BIAS_POINTER: return take(&d->bias, sizeof d->bias, buf, size);
  case CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_POINTER: return take(&d->aux, sizeof d->aux, buf, size);
  case CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_LD: return take(&d->aux_ld, sizeof d->aux_ld, buf, size);
  default: return CUBLAS_STATUS_NOT_SUPPORTED;
  }
}

cublasStatus_t cublasLtMatrixLayoutCreate(cublasLtMatrixLayout_t *layout, cudaDataType type,
                                          uint64_t rows, uint64_t cols, int64_t ld)
{
  if (!layout) return CUBLAS_STATUS_INVALID_VALUE;
  if (type != CUDA_R_32F) return CUBLAS_STATUS_NOT_SUPPORTED;
  if (ld < (int64_t)(rows > 1 ? rows : 1)) return CUBLAS_STATUS_INVALID_VALUE;
  cublasLtMatrixLayoutOpaque_t *o = calloc(1, sizeof *o);
  if (!o) return CUBLAS_STATUS_ALLOC_FAILED;
  *(lt_layout *)o = (lt_layout){.rows = rows, .cols = cols, .ld = ld};
  *layout = o;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatrixLayoutDestroy(cublasLtMatrixLayout_t layout)
{
  free(layout);
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmulPreferenceCreate(cublasLtMatmulPreference_t *pref)
{
  if (!pref) return CUBLAS_STATUS_INVALID_VALUE;
  *pref = calloc(1, sizeof **pref);
  return *pref ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_ALLOC_FAILED;
}

cublasStatus_t cublasLtMatmulPreferenceDestroy(cublasLtMatmulPreference_t pref)
{
  free(pref);
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmulPreferenceSetAttribute(cublasLtMatmulPreference_t pref,
                                                    cublasLtMatmulPreferenceAttributes_t attr,
                                                    const void *buf, size_t size)
{
  if (!pref || !buf) return CUBLAS_STATUS_INVALID_VALUE;
  return attr == CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES && size == sizeof(uint64_t)
             ? CUBLAS_STATUS_SUCCESS
             : CUBLAS_STATUS_NOT_SUPPORTED;
}

static bool known_epilogue(cublasLtEpilogue_t e)
{
  switch (e) {
  case CUBLASLT_EPILOGUE_DEFAULT:
  case CUBLASLT_EPILOGUE_BIAS:
  case CUBLASLT_EPILOGUE_RELU_BIAS:
  case CUBLASLT_EPILOGUE_RELU_AUX_BIAS:
  case CUBLASLT_EPILOGUE_DRELU:
  case CUBLASLT_EPILOGUE_BGRADB: return true;
  default: return false;
  }
}

static bool uses_aux(cublasLtEpilogue_t e)
{
  return e == CUBLASLT_EPILOGUE_RELU_AUX_BIAS || e == CUBLASLT_EPILOGUE_DRELU;
}

/* op(X)'s rows and columns from X's layout. */
static void op_shape(const lt_layout *x, cublasOperation_t op, uint64_t *rows, uint64_t *cols)
{
  *rows = op == CUBLAS_OP_N ? x->rows : x->cols;
  *cols = op == CUBLAS_OP_N ? x->cols : x->rows;
}

/* Whether the operands' shapes and the epilogue's inputs agree, as cuBLASLt checks them. */
static bool consistent(const lt_desc *d, const lt_layout *a, const lt_layout *b,
                       const lt_layout *c, const lt_layout *dd)
{
  uint64_t ar, ac, br, bc;
  op_shape(a, d->ta, &ar, &ac);
  op_shape(b, d->tb, &br, &bc);
  bool shapes = ac == br && c->rows == ar && c->cols == bc && dd->rows == ar && dd->cols == bc &&
                c->ld == dd->ld;
  bool needs_bias = d->epilogue != CUBLASLT_EPILOGUE_DEFAULT && d->epilogue != CUBLASLT_EPILOGUE_DRELU;
  bool aux_ok = !uses_aux(d->epilogue) ||
                (d->aux && d->aux_ld % 128 == 0 && d->aux_ld >= (int64_t)dd->rows);
  return d->valid && known_epilogue(d->epilogue) && shapes && (!needs_bias || d->bias) && aux_ok;
}

cublasStatus_t cublasLtMatmulAlgoGetHeuristic(cublasLtHandle_t handle, cublasLtMatmulDesc_t desc,
                                              cublasLtMatrixLayout_t a, cublasLtMatrixLayout_t b,
                                              cublasLtMatrixLayout_t c, cublasLtMatrixLayout_t d,
                                              cublasLtMatmulPreference_t pref, int requested,
                                              cublasLtMatmulHeuristicResult_t results[],
                                              int *returned)
{
  if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (!desc || !a || !b || !c || !d || !pref || requested < 1 || !results || !returned)
    return CUBLAS_STATUS_INVALID_VALUE;
  if (!consistent((lt_desc *)desc, (lt_layout *)a, (lt_layout *)b, (lt_layout *)c,
                  (lt_layout *)d)) {
    *returned = 0;
    return CUBLAS_STATUS_NOT_SUPPORTED;
  }
  memset(&results[0], 0, sizeof results[0]);
  results[0].state = CUBLAS_STATUS_SUCCESS;
  results[0].wavesCount = 1.f;
  *returned = 1;
  return CUBLAS_STATUS_SUCCESS;
}

typedef struct lt_args {
  lt_desc desc;
  lt_layout a, b, d;
  float alpha, beta;
  const float *pa, *pb, *pc;
  float *pd;
} lt_args;

static size_t layout_bytes(const lt_layout *l)
{
  if (l->rows == 0 || l->cols == 0) return 0;
  return ((l->cols - 1) * (uint64_t)l->ld + l->rows) * sizeof(float);
}

static size_t mask_bytes(const lt_args *g) { return (size_t)g->desc.aux_ld / 8 * g->d.cols; }

static bool mask_bit(const uint8_t *mask, int64_t ld, uint64_t i, uint64_t j)
{
  uint64_t bit = j * (uint64_t)ld + i;
  return mask[bit / 8] >> (bit % 8) & 1;
}

static void set_mask_bit(uint8_t *mask, int64_t ld, uint64_t i, uint64_t j, bool on)
{
  uint64_t bit = j * (uint64_t)ld + i;
  uint8_t m = (uint8_t)(1u << (bit % 8));
  mask[bit / 8] = on ? (uint8_t)(mask[bit / 8] | m) : (uint8_t)(mask[bit / 8] & ~m);
}

/* The epilogue on D (rows x cols, ld), with bias, mask and B as they were viewed. */
static void run_epilogue(const lt_args *g, float *dd, float *bias, uint8_t *mask, const float *b)
{
  cublasLtEpilogue_t e = g->desc.epilogue;
  uint64_t rows = g->d.rows, cols = g->d.cols;
  int64_t ld = g->d.ld, aux_ld = g->desc.aux_ld;
  for (uint64_t j = 0; j < cols && e != CUBLASLT_EPILOGUE_DEFAULT; j++)
    for (uint64_t i = 0; i < rows; i++) {
      float *v = &dd[j * (uint64_t)ld + i];
      if (e == CUBLASLT_EPILOGUE_DRELU) {
        if (!mask_bit(mask, aux_ld, i, j)) *v = 0.f;
        continue;
      }
      if (e == CUBLASLT_EPILOGUE_BGRADB) continue;
      *v += bias[i];
      if (e == CUBLASLT_EPILOGUE_BIAS) continue;
      if (e == CUBLASLT_EPILOGUE_RELU_AUX_BIAS) set_mask_bit(mask, aux_ld, i, j, *v > 0.f);
      if (*v < 0.f) *v = 0.f;
    }
  if (e != CUBLASLT_EPILOGUE_BGRADB) return;
  /* The bias gradient of B: per column of op(B), the sum over the k dimension, in order. */
  uint64_t k = g->desc.tb == CUBLAS_OP_N ? g->b.rows : g->b.cols;
  for (uint64_t j = 0; j < cols; j++) {
    float s = 0.f;
    for (uint64_t r = 0; r < k; r++)
      s += g->desc.tb == CUBLAS_OP_N ? b[j * (uint64_t)g->b.ld + r] : b[r * (uint64_t)g->b.ld + j];
    bias[j] = s;
  }
}

static void run_lt(emu_stream *s, void *p)
{
  lt_args *g = p;
  cublasLtEpilogue_t e = g->desc.epilogue;
  const float *a = emu_view(g->pa, layout_bytes(&g->a));
  const float *b = emu_view(g->pb, layout_bytes(&g->b));
  float *dd = emu_view(g->pd, layout_bytes(&g->d));
  float *bias = NULL;
  uint8_t *mask = NULL;
  bool ok = a && b && dd;
  if (ok && e != CUBLASLT_EPILOGUE_DEFAULT && e != CUBLASLT_EPILOGUE_DRELU) {
    size_t n = e == CUBLASLT_EPILOGUE_BGRADB ? g->d.cols : g->d.rows;
    ok = (bias = emu_view(g->desc.bias, n * sizeof(float))) != NULL;
  }
  if (ok && uses_aux(e)) ok = (mask = emu_view(g->desc.aux, mask_bytes(g))) != NULL;
  if (!ok) {
    emu_set_sticky(s->device, cudaErrorIllegalAddress);
    return;
  }
  if (g->pc != g->pd) memcpy(dd, emu_view(g->pc, layout_bytes(&g->d)), layout_bytes(&g->d));
  uint64_t k = g->desc.ta == CUBLAS_OP_N ? g->a.cols : g->a.rows;
  cblas_sgemm(CblasColMajor, g->desc.ta == CUBLAS_OP_N ? CblasNoTrans : CblasTrans,
              g->desc.tb == CUBLAS_OP_N ? CblasNoTrans : CblasTrans, (int)g->d.rows,
              (int)g->d.cols, (int)k, g->alpha, a, (int)g->a.ld, b, (int)g->b.ld, g->beta, dd,
              (int)g->d.ld);
  run_epilogue(g, dd, bias, mask, b);
}

cublasStatus_t cublasLtMatmul(cublasLtHandle_t handle, cublasLtMatmulDesc_t desc,
                              const void *alpha, const void *A, cublasLtMatrixLayout_t adesc,
                              const void *B, cublasLtMatrixLayout_t bdesc, const void *beta,
                              const void *C, cublasLtMatrixLayout_t cdesc, void *D,
                              cublasLtMatrixLayout_t ddesc, const cublasLtMatmulAlgo_t *algo,
                              void *workspace, size_t workspace_bytes, cudaStream_t stream)
{
  (void)algo, (void)workspace, (void)workspace_bytes;
  if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (!desc || !alpha || !beta || !A || !B || !C || !D || !adesc || !bdesc || !cdesc || !ddesc)
    return CUBLAS_STATUS_INVALID_VALUE;
  lt_args g = {.desc = *(lt_desc *)desc,
               .a = *(lt_layout *)adesc,
               .b = *(lt_layout *)bdesc,
               .d = *(lt_layout *)ddesc,
               .alpha = *(const float *)alpha,
               .beta = *(const float *)beta,
               .pa = A,
               .pb = B,
               .pc = C,
               .pd = D};
  if (!consistent(&g.desc, &g.a, &g.b, (lt_layout *)cdesc, &g.d)) return CUBLAS_STATUS_INVALID_VALUE;
  if (g.d.rows == 0 || g.d.cols == 0) return CUBLAS_STATUS_SUCCESS;
  cudaError_t rc;
  emu_stream *s = emu_stream_resolve(stream, &rc);
  if (!s) return CUBLAS_STATUS_INVALID_VALUE;
  if (emu_sticky(s->device) != cudaSuccess) return CUBLAS_STATUS_EXECUTION_FAILED;
  emu_count(s->device, DPT_EMU_BLAS, 1);
  return emu_stream_enqueue(s, run_lt, &g, sizeof g) == cudaSuccess ? CUBLAS_STATUS_SUCCESS
                                                                    : CUBLAS_STATUS_ALLOC_FAILED;
}
