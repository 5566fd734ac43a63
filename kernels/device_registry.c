/* The one place that knows the backends: CPU always, CUDA as the build provides (backends.h). */
#include <stdio.h>
#include <string.h>

#include "dpt/device.h"
#include "kernels/backends.h"

int dpt_device_open(dpt_device_kind kind, int index, int blas_threads, dpt_device *out,
                    dpt_err *err)
{
  dpt_device_options opts = {.blas_threads = blas_threads};
  return dpt_device_open_with(kind, index, &opts, out, err);
}

int dpt_device_open_with(dpt_device_kind kind, int index, const dpt_device_options *opts,
                         dpt_device *out, dpt_err *err)
{
  if (!out) return dpt_err_set(err, DPT_EINTERNAL, "device open: no output device");
  memset(out, 0, sizeof *out);
  if (index < 0) return dpt_err_set(err, DPT_EINPUT, "device open: negative index %d", index);
  switch (kind) {
  case DPT_DEVICE_CPU: return dpt_cpu_backend_open(index, opts, out, err);
  case DPT_DEVICE_CUDA: return dpt_cuda_backend_open(index, opts, out, err);
  }
  return dpt_err_set(err, DPT_EINTERNAL, "device open: unknown device kind %d", (int)kind);
}

size_t dpt_device_host_reserve(dpt_device_kind kind, int workers, int blas_threads)
{
  return kind == DPT_DEVICE_CPU ? dpt_cpu_backend_reserve(workers, blas_threads) : 0;
}

int dpt_cpu_blas_threads(void) { return dpt_cpu_backend_threads(); }

void dpt_device_close(dpt_device *dev)
{
  if (!dev || !dev->vt) return;
  dev->vt->destroy(dev->ctx);
  memset(dev, 0, sizeof *dev);
}

int dpt_cuda_device_count(int *count, dpt_err *why) { return dpt_cuda_backend_count(count, why); }

bool dpt_cuda_first_device_id(char *buf, size_t size)
{
  return dpt_cuda_backend_first_id(buf, size);
}

void dpt_blas_summary(dpt_device_kind kind, char *buf, size_t size)
{
  if (kind == DPT_DEVICE_CUDA) dpt_cuda_backend_blas(buf, size);
  else dpt_cpu_backend_blas(buf, size);
}

const char *dpt_backends_summary(void)
{
  /* Per thread, rebuilt on each call: the thread count can change between calls. */
  static _Thread_local char line[576];
  char cpu[192], cuda[256], nccl[64];
  dpt_cpu_backend_summary(cpu, sizeof cpu);
  dpt_cuda_backend_summary(cuda, sizeof cuda);
  dpt_nccl_backend_summary(nccl, sizeof nccl);
  snprintf(line, sizeof line, "%s; %s; %s", cpu, cuda, nccl);
  return line;
}
