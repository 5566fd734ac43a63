/* What the CUDA runtime reports about this machine: device count and versions. Plain C against
 * the runtime API; built only with CUDA. None of it needs a driver or a GPU to answer. */
#include <cublas_api.h>
#include <cuda_runtime_api.h>
#include <limits.h>
#include <stdio.h>

#include "kernels/backends.h"

/* 13000 -> "13.0"; 0 (no driver) -> "none". */
static void version_text(char *buf, size_t size, int v)
{
  if (v <= 0)
    snprintf(buf, size, "none");
  else
    snprintf(buf, size, "%d.%d", v / 1000, v % 1000 / 10);
}

/* Why the runtime found no device, in a user's words: the runtime's own text for a missing driver
 * is "CUDA driver version is insufficient for CUDA runtime version". */
static void no_device_reason(cudaError_t e, char *buf, size_t size)
{
  int driver = 0, runtime = 0;
  (void)cudaDriverGetVersion(&driver); /* 0 when no driver is installed */
  (void)cudaRuntimeGetVersion(&runtime);
  char drv[16], rt[16];
  version_text(drv, sizeof drv, driver);
  version_text(rt, sizeof rt, runtime);
  if (e == cudaErrorInsufficientDriver && driver == 0)
    snprintf(buf, size, "no NVIDIA driver was found; %s", cudaGetErrorName(e));
  else if (e == cudaErrorInsufficientDriver)
    snprintf(buf, size, "the NVIDIA driver supports CUDA %s, this build needs %s; %s", drv, rt,
             cudaGetErrorName(e));
  else if (e == cudaErrorNoDevice)
    snprintf(buf, size, "the NVIDIA driver found no GPU; %s", cudaGetErrorName(e));
  else
    snprintf(buf, size, "%s (%s)", cudaGetErrorString(e), cudaGetErrorName(e));
}

bool dpt_cuda_backend_first_id(char *buf, size_t size)
{
  if (size) buf[0] = '\0';
  int n = 0;
  bool found = cudaGetDeviceCount(&n) == cudaSuccess && n > 0 && size <= INT_MAX &&
               cudaDeviceGetPCIBusId(buf, (int)size, 0) == cudaSuccess;
  if (!found) {
    (void)cudaGetLastError(); /* an answer, not a failure */
    if (size) buf[0] = '\0';
  }
  return found;
}

int dpt_cuda_backend_count(int *count, dpt_err *why)
{
  if (!count) return dpt_err_set(why, DPT_EINTERNAL, "cuda device count: no output count");
  int n = 0;
  cudaError_t e = cudaGetDeviceCount(&n);
  *count = e == cudaSuccess ? n : 0;
  if (e != cudaSuccess) {
    /* No driver or no device is an answer, not a failure: clear it from the last-error slot. */
    (void)cudaGetLastError();
    if (why) no_device_reason(e, why->msg, sizeof why->msg);
  } else if (n == 0 && why) {
    snprintf(why->msg, sizeof why->msg, "no CUDA device found");
  }
  return DPT_OK;
}

void dpt_cuda_backend_blas(char *buf, size_t size)
{
  int major = 0, minor = 0, patch = 0;
  (void)cublasGetProperty(MAJOR_VERSION, &major);
  (void)cublasGetProperty(MINOR_VERSION, &minor);
  (void)cublasGetProperty(PATCH_LEVEL, &patch);
  snprintf(buf, size, "cuBLAS %d.%d.%d", major, minor, patch);
}

void dpt_cuda_backend_summary(char *buf, size_t size)
{
  int runtime = 0, driver = 0;
  (void)cudaRuntimeGetVersion(&runtime);
  (void)cudaDriverGetVersion(&driver); /* 0 when no driver is installed */
  char rt[16], drv[16], blas[64];
  version_text(rt, sizeof rt, runtime);
  version_text(drv, sizeof drv, driver);
  dpt_cuda_backend_blas(blas, sizeof blas);
  snprintf(buf, size, "cuda %s (driver %s, %s, archs %s)", rt, drv, blas, DPT_CUDA_ARCHS);
}
