/* The CUDA entry points of a build without CUDA (CMake compiles this file instead of
 * device_cuda.c, its kernels and cuda_info.c): no devices, and opening one is the user's mistake. */
#include <stdio.h>

#include "kernels/backends.h"

int dpt_cuda_backend_open(int ordinal, const dpt_device_options *opts, dpt_device *out,
                          dpt_err *err)
{
  return dpt_err_set(err, DPT_EINPUT, "cuda: this build has no CUDA support");
}

bool dpt_cuda_backend_first_id(char *buf, size_t size)
{
  if (size) buf[0] = '\0';
  return false;
}

int dpt_cuda_backend_count(int *count, dpt_err *why)
{
  if (!count) return dpt_err_set(why, DPT_EINTERNAL, "cuda device count: no output count");
  *count = 0;
  if (why) snprintf(why->msg, sizeof why->msg, "built without CUDA");
  return DPT_OK;
}

void dpt_cuda_backend_summary(char *buf, size_t size) { snprintf(buf, size, "cuda: not built"); }

void dpt_cuda_backend_blas(char *buf, size_t size) { snprintf(buf, size, "none"); }
