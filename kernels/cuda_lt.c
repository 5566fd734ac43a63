/* cuBLASLt for the dense layer's GEMMs (kernels/cuda_lt.h). Row-major requests become
 * column-major matmuls by dpt_gemm_map (kernels/gemm_map.h); a layer's bias runs along the
 * column-major result's rows, so BIAS, RELU_AUX_BIAS and DRELU apply as cuBLASLt defines them,
 * and the weight gradient's bias gradient is BGRADB (the sum over k of op(B), B being the
 * row-major gradient d). The algorithm of each shape is looked up once and kept. */
#include <cublasLt.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cuda_check.h"
#include "kernels/cuda_lt.h"
#include "kernels/gemm_map.h"

/* The probe's operands live after the matmuls' workspace. */
enum { WORKSPACE_BYTES = 4 << 20, PROBE_BYTES = 16 << 10, MAX_PLANS = 64, MASK_ALIGN_BITS = 128 };

/* One shape's matmul: what the algorithm was found for. align: a bit per operand (A, B, D, bias,
 * mask) set when it is 16-byte aligned, since the algorithm found may depend on it. */
typedef struct lt_key {
  int epilogue, transa, transb, m, n, k, lda, ldb, ldd, align;
  int64_t aux_ld;
} lt_key;

/* The descriptor and layouts of a call, made on the host (no device memory). */
typedef struct lt_descs {
  cublasLtMatmulDesc_t op;
  cublasLtMatrixLayout_t a, b, d;
} lt_descs;

/* A shape's descriptors and algorithm, kept across calls: a call only sets its pointers. */
typedef struct lt_plan {
  lt_key key;
  lt_descs descs;
  cublasLtMatmulAlgo_t algo;
} lt_plan;

struct cuda_lt {
  cublasLtHandle_t handle;
  cudaStream_t stream;
  void *workspace;
  lt_plan plans[MAX_PLANS];
  int n_plans;
};

/* A matmul's operands after the row-major to column-major mapping. */
typedef struct lt_call {
  lt_key key;
  const float *a, *b, *bias;
  float *d;
  const void *aux;
} lt_call;

static int64_t mask_ld(int rows)
{
  return (rows + MASK_ALIGN_BITS - 1) / MASK_ALIGN_BITS * MASK_ALIGN_BITS;
}

size_t cuda_lt_mask_bytes(int rows, int cols)
{
  /* Column-major, the output's rows are the row-major columns. */
  return (size_t)(mask_ld(cols) / 8) * (size_t)rows;
}

static cublasStatus_t set_attr(cublasLtMatmulDesc_t d, cublasLtMatmulDescAttributes_t attr,
                               const void *v, size_t size)
{
  return cublasLtMatmulDescSetAttribute(d, attr, v, size);
}

static void free_descs(lt_descs *x)
{
  if (x->op) (void)cublasLtMatmulDescDestroy(x->op);
  if (x->a) (void)cublasLtMatrixLayoutDestroy(x->a);
  if (x->b) (void)cublasLtMatrixLayoutDestroy(x->b);
  if (x->d) (void)cublasLtMatrixLayoutDestroy(x->d);
}

static cublasStatus_t make_descs(const lt_call *c, lt_descs *x)
{
  const lt_key *k = &c->key;
  *x = (lt_descs){0};
  int32_t ta = k->transa ? CUBLAS_OP_T : CUBLAS_OP_N, tb = k->transb ? CUBLAS_OP_T : CUBLAS_OP_N;
  int32_t epi = k->epilogue;
  cublasStatus_t s = cublasLtMatmulDescCreate(&x->op, CUBLAS_COMPUTE_32F, CUDA_R_32F);
  if (!s) s = set_attr(x->op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta);
  if (!s) s = set_attr(x->op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb);
  if (!s) s = set_attr(x->op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi);
  if (!s && c->bias)
    s = set_attr(x->op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &c->bias, sizeof c->bias);
  if (!s && c->aux) {
    s = set_attr(x->op, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_POINTER, &c->aux, sizeof c->aux);
    if (!s) s = set_attr(x->op, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_LD, &k->aux_ld, sizeof k->aux_ld);
  }
  /* Stored shapes: op(A) is m x k, op(B) k x n. */
  if (!s)
    s = cublasLtMatrixLayoutCreate(&x->a, CUDA_R_32F, k->transa ? k->k : k->m,
                                   k->transa ? k->m : k->k, k->lda);
  if (!s)
    s = cublasLtMatrixLayoutCreate(&x->b, CUDA_R_32F, k->transb ? k->n : k->k,
                                   k->transb ? k->k : k->n, k->ldb);
  if (!s) s = cublasLtMatrixLayoutCreate(&x->d, CUDA_R_32F, k->m, k->n, k->ldd);
  if (s) free_descs(x);
  return s;
}

/* The algorithm for descriptors x. */
static int find_algo(cuda_lt *lt, const lt_descs *x, cublasLtMatmulAlgo_t *out, dpt_err *err)
{
  cublasLtMatmulPreference_t pref = NULL;
  uint64_t ws = WORKSPACE_BYTES;
  cublasLtMatmulHeuristicResult_t found;
  int n = 0;
  cublasStatus_t s = cublasLtMatmulPreferenceCreate(&pref);
  if (!s)
    s = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws,
                                             sizeof ws);
  if (!s)
    s = cublasLtMatmulAlgoGetHeuristic(lt->handle, x->op, x->a, x->b, x->d, x->d, pref, 1, &found,
                                       &n);
  if (pref) (void)cublasLtMatmulPreferenceDestroy(pref);
  if (!s && n < 1) s = CUBLAS_STATUS_NOT_SUPPORTED;
  int rc = DPT_CHECK_CUBLAS(s, err);
  if (rc) return rc;
  *out = found.algo;
  return DPT_OK;
}

/* The plan of the call's shape: one kept from an earlier call (its pointers set to the call's),
 * else one made now into *made, kept while there is room (*kept). */
static int plan_for(cuda_lt *lt, const lt_call *c, lt_plan *made, lt_plan **out, bool *kept,
                    dpt_err *err)
{
  for (int i = 0; i < lt->n_plans; i++) {
    lt_plan *p = &lt->plans[i];
    if (memcmp(&p->key, &c->key, sizeof c->key) != 0) continue;
    cublasStatus_t s = CUBLAS_STATUS_SUCCESS;
    if (c->bias)
      s = set_attr(p->descs.op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &c->bias, sizeof c->bias);
    if (!s && c->aux)
      s = set_attr(p->descs.op, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_POINTER, &c->aux, sizeof c->aux);
    *out = p;
    *kept = true;
    return DPT_CHECK_CUBLAS(s, err);
  }
  *made = (lt_plan){.key = c->key};
  int rc = DPT_CHECK_CUBLAS(make_descs(c, &made->descs), err);
  if (!rc) rc = find_algo(lt, &made->descs, &made->algo, err);
  if (rc) {
    free_descs(&made->descs);
    return rc;
  }
  *kept = lt->n_plans < MAX_PLANS;
  *out = *kept ? &lt->plans[lt->n_plans++] : made;
  if (*kept) **out = *made;
  return DPT_OK;
}

/* lt_key.align of the call's pointers. */
static int align_bits(const lt_call *c)
{
  const void *p[] = {c->a, c->b, c->d, c->bias, c->aux};
  int bits = 0;
  for (int i = 0; i < (int)(sizeof p / sizeof p[0]); i++)
    bits |= ((uintptr_t)p[i] % 16 == 0) << i;
  return bits;
}

/* D = op(A) op(B) (alpha 1, beta 0, C = D) with the call's epilogue, queued on the stream. */
static int run(cuda_lt *lt, const lt_call *call, dpt_err *err)
{
  lt_call keyed = *call;
  keyed.key.align = align_bits(call);
  const lt_call *c = &keyed;
  lt_plan made, *p = NULL;
  bool kept = false;
  int rc = plan_for(lt, c, &made, &p, &kept, err);
  if (rc) return rc;
  const float one = 1.f, zero = 0.f;
  const lt_descs *x = &p->descs;
  rc = DPT_CHECK_CUBLAS(cublasLtMatmul(lt->handle, x->op, &one, c->a, x->a, c->b, x->b, &zero,
                                       c->d, x->d, c->d, x->d, &p->algo, lt->workspace,
                                       WORKSPACE_BYTES, lt->stream),
                        err);
  if (!kept) free_descs(&made.descs);
  return rc;
}

static void forget_plans(cuda_lt *lt)
{
  for (int i = 0; i < lt->n_plans; i++) free_descs(&lt->plans[i].descs);
  lt->n_plans = 0;
}

/* The column-major call of a row-major C[m x n] = op(A) op(B) (dpt_gemm_map). */
static lt_call mapped(int epilogue, bool ta, bool tb, int m, int n, int k, const float *a, int lda,
                      const float *b, int ldb, float *c, int ldc)
{
  dpt_gemm_colmajor g = dpt_gemm_map(ta, tb, m, n, k, lda, ldb, ldc);
  return (lt_call){.key = {.epilogue = epilogue, .transa = g.transa, .transb = g.transb, .m = g.m,
                           .n = g.n, .k = g.k, .lda = g.lda, .ldb = g.ldb, .ldd = g.ldc},
                   .a = g.a_is_b ? b : a,
                   .b = g.a_is_b ? a : b,
                   .d = c};
}

int cuda_lt_linear_fwd(cuda_lt *lt, int rows, int in, int out, const float *x, const float *w,
                       const float *bias, bool relu, float *y, void *mask, dpt_err *err)
{
  int epi = !relu ? CUBLASLT_EPILOGUE_BIAS
                  : mask ? CUBLASLT_EPILOGUE_RELU_AUX_BIAS : CUBLASLT_EPILOGUE_RELU_BIAS;
  lt_call c = mapped(epi, false, true, rows, out, in, x, in, w, in, y, out);
  c.bias = bias;
  if (relu && mask) {
    c.aux = mask;
    c.key.aux_ld = mask_ld(out);
  }
  return run(lt, &c, err);
}

int cuda_lt_linear_bwd_weights(cuda_lt *lt, int rows, int in, int out, const float *d,
                               const float *x, float *gw, float *gb, dpt_err *err)
{
  lt_call c = mapped(CUBLASLT_EPILOGUE_BGRADB, true, false, out, in, rows, d, out, x, in, gw, in);
  c.bias = gb;
  return run(lt, &c, err);
}

int cuda_lt_linear_bwd_data(cuda_lt *lt, int rows, int in, int out, const float *d,
                            const float *w, const void *mask, float *prev, dpt_err *err)
{
  lt_call c = mapped(CUBLASLT_EPILOGUE_DRELU, false, false, rows, in, out, d, out, w, in, prev, in);
  c.aux = mask;
  c.key.aux_ld = mask_ld(in);
  return run(lt, &c, err);
}

/* Each epilogue once on a 16 x 16 layer of 16 rows: whether this GPU and library run them all.
 * The operands are zeros after the workspace (nothing is read back). */
static bool epilogues_run(cuda_lt *lt)
{
  enum { N = 16 };
  float *f = (float *)((char *)lt->workspace + WORKSPACE_BYTES);
  float *x = f, *w = f + N * N, *y = f + 2 * N * N, *bias = f + 3 * N * N, *prev = f + 4 * N * N;
  void *mask = f + 5 * N * N;
  dpt_err ignored = {0};
  bool ok = cuda_lt_linear_fwd(lt, N, N, N, x, w, bias, true, y, mask, &ignored) == DPT_OK &&
            cuda_lt_linear_fwd(lt, N, N, N, x, w, bias, false, y, NULL, &ignored) == DPT_OK &&
            cuda_lt_linear_bwd_weights(lt, N, N, N, y, x, w, bias, &ignored) == DPT_OK &&
            cuda_lt_linear_bwd_data(lt, N, N, N, y, w, mask, prev, &ignored) == DPT_OK;
  forget_plans(lt); /* the probe's shapes are not the run's */
  return ok;
}

int cuda_lt_open(cudaStream_t stream, cuda_lt **out, size_t *allocs, dpt_err *err)
{
  *out = NULL;
  cuda_lt *lt = calloc(1, sizeof *lt);
  if (!lt) return dpt_err_set(err, DPT_ENOMEM, "cuda: out of memory for cuBLASLt");
  lt->stream = stream;
  int rc = DPT_CHECK_CUBLAS(cublasLtCreate(&lt->handle), err);
  if (!rc) rc = DPT_CHECK_CUDA(cudaMalloc(&lt->workspace, WORKSPACE_BYTES + PROBE_BYTES), err);
  if (!rc) ++*allocs;
  if (!rc)
    rc = DPT_CHECK_CUDA(cudaMemsetAsync(lt->workspace, 0, WORKSPACE_BYTES + PROBE_BYTES, stream),
                        err);
  if (rc || !epilogues_run(lt)) {
    cuda_lt_close(lt);
    return rc;
  }
  *out = lt;
  return DPT_OK;
}

/* The caller has waited for the stream: nothing queued reads the workspace. */
void cuda_lt_close(cuda_lt *lt)
{
  if (!lt) return;
  forget_plans(lt);
  if (lt->workspace) (void)cudaFree(lt->workspace);
  if (lt->handle) (void)cublasLtDestroy(lt->handle);
  free(lt);
}
