/* The emulated machine's devices: how many (DPT_CUDA_EMU_DEVICES, default 4),
 * which this process sees (CUDA_VISIBLE_DEVICES), the calling thread's current
 * device (cudaSetDevice is per thread, device 0 until set), and each device's
 * streams for cudaDeviceSynchronize. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emu/emu_internal.h"

cudaError_t cudaGetDeviceCount(int *count)
{
  if (!count) return emu_fail(cudaErrorInvalidValue);
  *count = emu_visible_count();
  return *count ? cudaSuccess : emu_fail(cudaErrorNoDevice);
}

cudaError_t cudaSetDevice(int device)
{
  if (emu_visible_count() == 0) return emu_fail(cudaErrorNoDevice);
  if (emu_visible_to_physical(device) < 0) return emu_fail(cudaErrorInvalidDevice);
  (void)emu_set_current(device);
  return cudaSuccess;
}

/* The machine's device, so processes that see it under other ordinals know it is the same. */
cudaError_t cudaDeviceGetPCIBusId(char *pciBusId, int len, int device)
{
  int physical = emu_visible_to_physical(device);
  if (!pciBusId || len <= 0) return emu_fail(cudaErrorInvalidValue);
  if (physical < 0) return emu_fail(cudaErrorInvalidDevice);
  snprintf(pciBusId, (size_t)len, "0000:%02x:00.0", physical + 1);
  return cudaSuccess;
}

cudaError_t cudaGetDevice(int *device)
{
  if (!device) return emu_fail(cudaErrorInvalidValue);
  if (emu_visible_count() == 0) return emu_fail(cudaErrorNoDevice);
  *device = emu_current_ordinal();
  return cudaSuccess;
}

/* Waits for the streams live at the call, one at a time: work queued meanwhile
 * is not waited for, as with CUDA. The list is copied (each stream retained) so
 * that no lock is held while waiting. */
cudaError_t emu_device_wait_idle(int physical)
{
  emu_device *d = emu_dev(physical);
  if (!d) return cudaErrorInvalidDevice;
  emu_stream *list[sizeof d->streams / sizeof d->streams[0]];
  pthread_mutex_lock(&d->mu);
  int n = d->n_streams;
  memcpy(list, d->streams, (size_t)n * sizeof list[0]);
  for (int i = 0; i < n; i++) emu_stream_retain(list[i]);
  pthread_mutex_unlock(&d->mu);
  cudaError_t rc = cudaSuccess;
  for (int i = 0; i < n; i++) {
    if (rc == cudaSuccess) rc = emu_stream_wait_idle(list[i]);
    emu_stream_release(list[i]);
  }
  return rc != cudaSuccess ? rc : emu_sticky(physical);
}

cudaError_t cudaDeviceSynchronize(void)
{
  int dev = emu_current_physical();
  if (dev < 0) return emu_fail(cudaErrorNoDevice);
  emu_count(dev, DPT_EMU_HOST_WAITS, 1);
  return emu_fail(emu_device_wait_idle(dev));
}

/* The versions of the headers the emulator was built against: it stands in for
 * both. */
cudaError_t cudaRuntimeGetVersion(int *runtimeVersion)
{
  if (!runtimeVersion) return emu_fail(cudaErrorInvalidValue);
  *runtimeVersion = CUDART_VERSION;
  return cudaSuccess;
}

cudaError_t cudaDriverGetVersion(int *driverVersion)
{
  if (!driverVersion) return emu_fail(cudaErrorInvalidValue);
  *driverVersion = CUDART_VERSION;
  return cudaSuccess;
}
