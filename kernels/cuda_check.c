#include "kernels/cuda_check.h"

#include <string.h>

/* Build paths are long and say nothing the file name does not. */
static const char *base_name(const char *path)
{
  const char *slash = strrchr(path, '/');
  return slash ? slash + 1 : path;
}

int dpt_cuda_status(cudaError_t e, const char *call, const char *file, int line, dpt_err *err)
{
  if (e == cudaSuccess) return DPT_OK;
  /* Clears the runtime's last-error slot, so a later cudaGetLastError reports only new errors. */
  (void)cudaGetLastError();
  return dpt_err_set(err, DPT_EDEVICE, "cuda: %s:%d: %s: %s (%s)", base_name(file), line, call,
                     cudaGetErrorString(e), cudaGetErrorName(e));
}

int dpt_cublas_status(cublasStatus_t s, const char *call, const char *file, int line, dpt_err *err)
{
  if (s == CUBLAS_STATUS_SUCCESS) return DPT_OK;
  /* A call that failed to execute on a device with a sticky error (an illegal address): that
   * error is the reason, and the runtime still holds it. */
  cudaError_t why = s == CUBLAS_STATUS_EXECUTION_FAILED ? cudaPeekAtLastError() : cudaSuccess;
  if (why != cudaSuccess)
    return dpt_err_set(err, DPT_EDEVICE, "cuda: %s:%d: %s: %s (%s): %s (%s)", base_name(file),
                       line, call, cublasGetStatusString(s), cublasGetStatusName(s),
                       cudaGetErrorString(why), cudaGetErrorName(why));
  return dpt_err_set(err, DPT_EDEVICE, "cuda: %s:%d: %s: %s (%s)", base_name(file), line, call,
                     cublasGetStatusString(s), cublasGetStatusName(s));
}
