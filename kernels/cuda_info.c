/* What the CUDA runtime reports about this machine: device count and versions. Plain C against
 * the runtime API; built only with CUDA. None of it needs a driver or a GPU to answer. */
#include <cublas_api.h>
#include <cuda_runtime_api.h>
#include <stdio.h>

#include "kernels/backends.h"

int dpt_cuda_backend_count(int *count, dpt_err *why)
{
  if (!count) return dpt_err_set(why, DPT_EINTERNAL, "cuda device count: no output count");
  int n = 0;
  cudaError_t e = cudaGetDeviceCount(&n);
  *count = e == cudaSuccess ? n : 0;
  if (e != cudaSuccess) {
    /* No driver or no device is an answer, not a failure: clear it from the last-error slot. */
    (void)cudaGetLastError();
    if (why)
      snprintf(why->msg, sizeof why->msg, "%s (%s)", cudaGetErrorString(e), cudaGetErrorName(e));
  } else if (n == 0 && why) {
    snprintf(why->msg, sizeof why->msg, "no CUDA device found");
  }
  return DPT_OK;
}

/* 13000 -> "13.0"; 0 (no driver) -> "none". */
static void version_text(char *buf, size_t size, int v)
{
  if (v <= 0)
    snprintf(buf, size, "none");
  else
    snprintf(buf, size, "%d.%d", v / 1000, v % 1000 / 10);
}

void dpt_cuda_backend_summary(char *buf, size_t size)
{
  int runtime = 0, driver = 0, major = 0, minor = 0, patch = 0;
  (void)cudaRuntimeGetVersion(&runtime);
  (void)cudaDriverGetVersion(&driver); /* 0 when no driver is installed */
  (void)cublasGetProperty(MAJOR_VERSION, &major);
  (void)cublasGetProperty(MINOR_VERSION, &minor);
  (void)cublasGetProperty(PATCH_LEVEL, &patch);
  char rt[16], drv[16];
  version_text(rt, sizeof rt, runtime);
  version_text(drv, sizeof drv, driver);
  snprintf(buf, size, "cuda %s (driver %s, cuBLAS %d.%d.%d, archs %s)", rt, drv, major, minor,
           patch, DPT_CUDA_ARCHS);
}
