/* The backends behind device_registry.c. Private to kernels/.
 * CUDA: device_cuda.c and cuda_info.c implement the dpt_cuda_backend_* functions when the build
 * has CUDA; device_cuda_absent.c implements them otherwise (CMake compiles one or the other). */
#ifndef DPT_KERNELS_BACKENDS_H
#define DPT_KERNELS_BACKENDS_H

#include <stdbool.h>
#include <stddef.h>

#include "dpt/device.h"

#ifdef __cplusplus
extern "C" {
#endif

/* With opts' BLAS threads (the image ops' helper threads too) and wait bound. */
int dpt_cpu_backend_open(int index, const dpt_device_options *opts, dpt_device *out,
                         dpt_err *err);
/* See dpt_device_host_reserve in dpt/device.h. */
size_t dpt_cpu_backend_reserve(int workers, int blas_threads);
int dpt_cpu_backend_threads(void);
/* "cpu (OpenBLAS 0.3.21, kernel Haswell, 2 threads)" into buf. */
void dpt_cpu_backend_summary(char *buf, size_t size);
/* "OpenBLAS 0.3.21, kernel Haswell" into buf. */
void dpt_cpu_backend_blas(char *buf, size_t size);

/* Opens CUDA device `ordinal` for the calling thread, with opts' wait bound and rows. */
int dpt_cuda_backend_open(int ordinal, const dpt_device_options *opts, dpt_device *out,
                          dpt_err *err);
/* See dpt_cuda_first_device_id in dpt/device.h. */
bool dpt_cuda_backend_first_id(char *buf, size_t size);
/* See dpt_cuda_device_count in dpt/device.h. */
int dpt_cuda_backend_count(int *count, dpt_err *why);
/* "cuda 13.0 (...)" or "cuda: not built" into buf. */
void dpt_cuda_backend_summary(char *buf, size_t size);
/* "cuBLAS 13.1.0" or "none" into buf. */
void dpt_cuda_backend_blas(char *buf, size_t size);
/* "nccl 2.28.9" or "nccl: not built" into buf (nccl_info.c or nccl_info_absent.c). */
void dpt_nccl_backend_summary(char *buf, size_t size);

#ifdef __cplusplus
}
#endif

#endif
