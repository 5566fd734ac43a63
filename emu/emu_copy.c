/* Copies and fills, queued on a stream (cudaMemcpyAsync, cudaMemsetAsync) or
 * waited for (cudaMemcpy, cudaMemset on the default stream). Every copy is
 * asynchronous, pageable host memory too: CUDA only says such a copy "might be
 * synchronous", so code that relies on it is wrong, and the emulator shows it.
 * The host side is read or written when the copy runs. */
#include <string.h>

#include "emu/emu_internal.h"

typedef struct copy_args {
  void *dst;
  const void *src;
  size_t bytes;
  bool dst_device, src_device;
} copy_args;

static void run_copy(emu_stream *s, void *p)
{
  copy_args *a = p;
  void *dst = a->dst_device ? emu_view(a->dst, a->bytes) : a->dst;
  const void *src = a->src_device ? emu_view(a->src, a->bytes) : a->src;
  if (!dst || !src) {
    emu_set_sticky(s->device, cudaErrorIllegalAddress);
    return;
  }
  memmove(dst, src, a->bytes);
}

/* Whether the direction matches where the pointers are (cudaMemcpyDefault:
 * any). */
static bool direction_ok(enum cudaMemcpyKind kind, bool dst_device, bool src_device)
{
  switch (kind) {
  case cudaMemcpyHostToHost: return !dst_device && !src_device;
  case cudaMemcpyHostToDevice: return dst_device && !src_device;
  case cudaMemcpyDeviceToHost: return !dst_device && src_device;
  case cudaMemcpyDeviceToDevice: return dst_device && src_device;
  case cudaMemcpyDefault: return true;
  }
  return false;
}

static cudaError_t queue_copy(void *dst, const void *src, size_t count, enum cudaMemcpyKind kind,
                              emu_stream *s)
{
  cudaError_t sticky = emu_sticky(s->device);
  if (sticky != cudaSuccess) return sticky;
  if (count == 0) return cudaSuccess;
  if (!dst || !src) return cudaErrorInvalidValue;
  copy_args a = {.dst = dst,
                 .src = src,
                 .bytes = count,
                 .dst_device = emu_is_device_address(dst),
                 .src_device = emu_is_device_address(src)};
  if (!direction_ok(kind, a.dst_device, a.src_device)) return cudaErrorInvalidMemcpyDirection;
  if ((a.dst_device && !emu_view(dst, count)) || (a.src_device && !emu_view(src, count)))
    return cudaErrorInvalidValue;
  if (a.dst_device && !a.src_device) {
    emu_count(s->device, DPT_EMU_H2D, 1);
    emu_count(s->device, DPT_EMU_H2D_BYTES, count);
  } else if (!a.dst_device && a.src_device) {
    emu_count(s->device, DPT_EMU_D2H, 1);
    emu_count(s->device, DPT_EMU_D2H_BYTES, count);
  }
  return emu_stream_enqueue(s, run_copy, &a, sizeof a);
}

cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t count, enum cudaMemcpyKind kind,
                            cudaStream_t stream)
{
  cudaError_t rc;
  emu_stream *s = emu_stream_resolve(stream, &rc);
  return emu_fail(s ? queue_copy(dst, src, count, kind, s) : rc);
}

cudaError_t cudaMemcpy(void *dst, const void *src, size_t count, enum cudaMemcpyKind kind)
{
  cudaError_t rc;
  emu_stream *s = emu_stream_resolve(NULL, &rc);
  if (s) rc = queue_copy(dst, src, count, kind, s);
  if (rc == cudaSuccess) {
    emu_count(s->device, DPT_EMU_HOST_WAITS, 1);
    rc = emu_stream_wait_idle(s);
  }
  return emu_fail(rc);
}

typedef struct fill_args {
  void *dst;
  int value;
  size_t bytes;
} fill_args;

static void run_fill(emu_stream *s, void *p)
{
  fill_args *a = p;
  void *dst = emu_view(a->dst, a->bytes);
  if (!dst) {
    emu_set_sticky(s->device, cudaErrorIllegalAddress);
    return;
  }
  memset(dst, a->value, a->bytes);
}

static cudaError_t queue_fill(void *devPtr, int value, size_t count, emu_stream *s)
{
  cudaError_t sticky = emu_sticky(s->device);
  if (sticky != cudaSuccess) return sticky;
  if (count == 0) return cudaSuccess;
  if (!emu_view(devPtr, count)) return cudaErrorInvalidValue;
  fill_args a = {.dst = devPtr, .value = value, .bytes = count};
  return emu_stream_enqueue(s, run_fill, &a, sizeof a);
}

cudaError_t cudaMemsetAsync(void *devPtr, int value, size_t count, cudaStream_t stream)
{
  cudaError_t rc;
  emu_stream *s = emu_stream_resolve(stream, &rc);
  return emu_fail(s ? queue_fill(devPtr, value, count, s) : rc);
}

cudaError_t cudaMemset(void *devPtr, int value, size_t count)
{
  cudaError_t rc;
  emu_stream *s = emu_stream_resolve(NULL, &rc);
  if (s) rc = queue_fill(devPtr, value, count, s);
  if (rc == cudaSuccess) rc = emu_stream_wait_idle(s);
  return emu_fail(rc);
}
