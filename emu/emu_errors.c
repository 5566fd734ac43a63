/* Errors of the emulated runtime: the thread's last error and each device's
 * sticky error, with the runtime's names and texts for the codes the emulator
 * returns. */
#include <stdio.h>

#include "emu/emu_internal.h"

static _Thread_local cudaError_t last_error = cudaSuccess;

cudaError_t emu_fail(cudaError_t e)
{
  if (e != cudaSuccess) last_error = e;
  return e;
}

/* A sticky error is reported again after the call that cleared it, as CUDA
 * does. */
cudaError_t cudaGetLastError(void)
{
  cudaError_t e = last_error;
  last_error = cudaSuccess;
  cudaError_t sticky = emu_sticky(emu_current_physical());
  return e != cudaSuccess ? e : sticky;
}

cudaError_t cudaPeekAtLastError(void)
{
  return last_error != cudaSuccess ? last_error : emu_sticky(emu_current_physical());
}

typedef struct error_text {
  cudaError_t code;
  const char *name, *text;
} error_text;

static const error_text texts[] = {
    {cudaSuccess, "cudaSuccess", "no error"},
    {cudaErrorInvalidValue, "cudaErrorInvalidValue", "invalid argument"},
    {cudaErrorMemoryAllocation, "cudaErrorMemoryAllocation", "out of memory"},
    {cudaErrorInvalidDevice, "cudaErrorInvalidDevice", "invalid device ordinal"},
    {cudaErrorNoDevice, "cudaErrorNoDevice", "no CUDA-capable device is detected"},
    {cudaErrorInvalidResourceHandle, "cudaErrorInvalidResourceHandle", "invalid resource handle"},
    {cudaErrorNotReady, "cudaErrorNotReady", "device not ready"},
    {cudaErrorIllegalAddress, "cudaErrorIllegalAddress",
     "an illegal memory access was encountered"},
    {cudaErrorLaunchTimeout, "cudaErrorLaunchTimeout", "the launch timed out and was terminated"},
    {cudaErrorInvalidDevicePointer, "cudaErrorInvalidDevicePointer", "invalid device pointer"},
    {cudaErrorInvalidMemcpyDirection, "cudaErrorInvalidMemcpyDirection",
     "invalid copy direction for memcpy"},
    {cudaErrorNotSupported, "cudaErrorNotSupported", "operation not supported"},
};

static const error_text *find_text(cudaError_t e)
{
  for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
    if (texts[i].code == e) return &texts[i];
  return NULL;
}

const char *cudaGetErrorName(cudaError_t error)
{
  const error_text *t = find_text(error);
  return t ? t->name : "cudaErrorUnknown";
}

const char *cudaGetErrorString(cudaError_t error)
{
  const error_text *t = find_text(error);
  return t ? t->text : "unrecognized error code";
}
