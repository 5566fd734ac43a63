/* Kernel launches from the kernels' C twins (emu/cuda_emu.h): the twin's loop
 * runs on the stream's thread with a copy of its arguments, and reaches device
 * memory through dpt_emu_view. The kernel faults of the plan (emu_faults.c)
 * replace the Nth kernel of a device: one that never finishes (until its stream
 * is destroyed or the wait limit passes), or one that hits an illegal address.
 */
#include <stdalign.h>
#include <string.h>
#include <time.h>

#include "emu/emu_internal.h"

enum { MAX_KERNEL_ARGS = 512 };

typedef struct kernel_args {
  dpt_emu_kernel_fn fn;
  alignas(max_align_t) unsigned char args[MAX_KERNEL_ARGS];
} kernel_args;

/* The device whose kernel this thread is running: dpt_emu_view blames it for a
 * bad pointer. */
static _Thread_local int running_device = -1;

static void run_kernel(emu_stream *s, void *p)
{
  kernel_args *k = p;
  running_device = s->device;
  k->fn(k->args);
  running_device = -1;
}

static void run_hang(emu_stream *s, void *p)
{
  double t0 = emu_now();
  struct timespec tick = {.tv_sec = 0, .tv_nsec = EMU_POLL_MS * 1000000L};
  while (!emu_stream_stopping(s)) {
    if (emu_now() - t0 > emu_wait_limit_s()) {
      emu_set_sticky(s->device, cudaErrorLaunchTimeout);
      return;
    }
    nanosleep(&tick, NULL);
  }
}

static void run_illegal_access(emu_stream *s, void *p)
{
  emu_set_sticky(s->device, cudaErrorIllegalAddress);
}

cudaError_t dpt_emu_launch(cudaStream_t stream, dpt_emu_kernel_fn fn, const void *args,
                           size_t args_size)
{
  if (!fn || args_size > MAX_KERNEL_ARGS) return emu_fail(cudaErrorInvalidValue);
  cudaError_t rc;
  emu_stream *s = emu_stream_resolve(stream, &rc);
  if (!s) return emu_fail(rc);
  if (s->device != emu_current_physical()) return emu_fail(cudaErrorInvalidResourceHandle);
  cudaError_t sticky = emu_sticky(s->device);
  if (sticky != cudaSuccess) return emu_fail(sticky);
  emu_count(s->device, DPT_EMU_KERNELS, 1);
  long nth = atomic_fetch_add(&emu_dev(s->device)->kernels_seen, 1) + 1;
  emu_fault hang = emu_fault_get(EMU_FAULT_HANG), bad = emu_fault_get(EMU_FAULT_STICKY);
  if (hang.device == s->device && hang.nth == nth)
    return emu_fail(emu_stream_enqueue(s, run_hang, NULL, 0));
  if (bad.device == s->device && bad.nth == nth)
    return emu_fail(emu_stream_enqueue(s, run_illegal_access, NULL, 0));
  kernel_args k = {.fn = fn};
  memcpy(k.args, args, args_size);
  return emu_fail(emu_stream_enqueue(s, run_kernel, &k, offsetof(kernel_args, args) + args_size));
}

void *dpt_emu_view(const void *p, size_t bytes)
{
  void *v = emu_view(p, bytes);
  if (!v && running_device >= 0) emu_set_sticky(running_device, cudaErrorIllegalAddress);
  return v;
}
