/* The emulated machine's devices: how many (DPT_CUDA_EMU_DEVICES, default 4),
 * which this process sees (CUDA_VISIBLE_DEVICES), the calling thread's current
 * device (cudaSetDevice is per thread, device 0 until set), and each device's
 * streams for cudaDeviceSynchronize. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emu/emu_internal.h"

static emu_device devices[EMU_MAX_DEVICES];
static int n_physical;
static int visible[EMU_MAX_DEVICES]; /* visible ordinal -> physical */
static int n_visible;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static _Thread_local int current_visible = 0;

/* CUDA's rule: the list is read up to its first entry that is not a device of
 * the machine (or repeats one); an empty variable hides every device. */
static void read_visible(void)
{
  const char *v = getenv("CUDA_VISIBLE_DEVICES");
  if (!v) {
    for (int i = 0; i < n_physical; i++) visible[i] = i;
    n_visible = n_physical;
    return;
  }
  const char *p = v;
  while (*p && n_visible < EMU_MAX_DEVICES) {
    char *end = NULL;
    long d = strtol(p, &end, 10);
    if (end == p || (*end && *end != ',') || d < 0 || d >= n_physical) break;
    bool seen = false;
    for (int i = 0; i < n_visible; i++) seen |= visible[i] == d;
    if (seen) break;
    visible[n_visible++] = (int)d;
    p = *end ? end + 1 : end;
  }
}

static void setup(void)
{
  const char *v = getenv("DPT_CUDA_EMU_DEVICES");
  long n = 4;
  if (v && *v) {
    char *end = NULL;
    n = strtol(v, &end, 10);
    if (end == v || *end || n < 0 || n > EMU_MAX_DEVICES) {
      fprintf(stderr, "dpt cuda emulator: DPT_CUDA_EMU_DEVICES='%s': expected 0..%d\n", v,
              EMU_MAX_DEVICES);
      exit(2);
    }
  }
  n_physical = (int)n;
  for (int d = 0; d < n_physical; d++) {
    pthread_mutex_init(&devices[d].mu, NULL);
    atomic_init(&devices[d].sticky, cudaSuccess);
  }
  read_visible();
}

int emu_physical_count(void)
{
  pthread_once(&once, setup);
  return n_physical;
}

int emu_visible_count(void)
{
  pthread_once(&once, setup);
  return n_visible;
}

int emu_visible_to_physical(int ordinal)
{
  pthread_once(&once, setup);
  return ordinal >= 0 && ordinal < n_visible ? visible[ordinal] : -1;
}

emu_device *emu_dev(int physical)
{
  return physical >= 0 && physical < emu_physical_count() ? &devices[physical] : NULL;
}

int emu_current_physical(void) { return emu_visible_to_physical(current_visible); }

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
  current_visible = device;
  return cudaSuccess;
}

cudaError_t cudaGetDevice(int *device)
{
  if (!device) return emu_fail(cudaErrorInvalidValue);
  if (emu_visible_count() == 0) return emu_fail(cudaErrorNoDevice);
  *device = current_visible;
  return cudaSuccess;
}

cudaError_t emu_device_add_stream(int physical, emu_stream *s)
{
  emu_device *d = emu_dev(physical);
  pthread_mutex_lock(&d->mu);
  bool room = d->n_streams < (int)(sizeof d->streams / sizeof d->streams[0]);
  if (room) d->streams[d->n_streams++] = s;
  pthread_mutex_unlock(&d->mu);
  return room ? cudaSuccess : cudaErrorMemoryAllocation;
}

void emu_device_remove_stream(int physical, emu_stream *s)
{
  emu_device *d = emu_dev(physical);
  pthread_mutex_lock(&d->mu);
  for (int i = 0; i < d->n_streams; i++)
    if (d->streams[i] == s) {
      d->streams[i] = d->streams[--d->n_streams];
      break;
    }
  pthread_mutex_unlock(&d->mu);
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
