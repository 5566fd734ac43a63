/* DPT_CHECK_CUDA / DPT_CHECK_CUBLAS: wrap a CUDA runtime or cuBLAS call and evaluate to 0, or
 * to DPT_EDEVICE after recording "cuda: <file>:<line>: <call>: <vendor message>" in err.
 *   int rc = DPT_CHECK_CUDA(cudaMalloc(&p, bytes), err);
 * Expressions rather than hidden returns, so callers can clean up. Private to kernels/; built
 * only with CUDA. */
#ifndef DPT_KERNELS_CUDA_CHECK_H
#define DPT_KERNELS_CUDA_CHECK_H

#include <cublas_api.h>
#include <cuda_runtime_api.h>

#include "dpt/status.h"

#ifdef __cplusplus
extern "C" {
#endif

int dpt_cuda_status(cudaError_t e, const char *call, const char *file, int line, dpt_err *err);
int dpt_cublas_status(cublasStatus_t s, const char *call, const char *file, int line, dpt_err *err);

#ifdef __cplusplus
}
#endif

#define DPT_CHECK_CUDA(call, err) dpt_cuda_status((call), #call, __FILE__, __LINE__, (err))
#define DPT_CHECK_CUBLAS(call, err) dpt_cublas_status((call), #call, __FILE__, __LINE__, (err))

#endif
