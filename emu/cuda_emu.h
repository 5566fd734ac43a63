/* The emulated CUDA device's own interface (docs/emulator.md), beside the CUDA
 * runtime, cuBLAS and NCCL functions it implements with the toolkit headers'
 * signatures:
 *  - counters per device, for tests and reports;
 *  - the delay knob tests turn;
 *  - the launch call the kernels' C twins (kernels/cuda_kernels_emu.c) queue
 * their kn_ loops with, and the view through which stream work reaches device
 * memory. Only programs linked with the emulator (cmake -DDPT_CUDA_EMU=ON) may
 * include it. */
#ifndef DPT_EMU_CUDA_EMU_H
#define DPT_EMU_CUDA_EMU_H

#include <cuda_runtime_api.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
  DPT_EMU_KERNELS,    /* kernel launches (the twins' dpt_emu_launch) */
  DPT_EMU_BLAS,       /* cuBLAS calls that queue work (gemm, gemv) */
  DPT_EMU_NCCL,       /* NCCL collectives queued */
  DPT_EMU_HOST_WAITS, /* host-blocking waits: stream, event and device
                         synchronise, blocking copies; a poll (cudaStreamQuery,
                         cudaEventQuery) that finds work pending counts once per
                         piece of work it waits for */
  DPT_EMU_H2D,        /* host-to-device copies queued */
  DPT_EMU_H2D_BYTES,
  DPT_EMU_D2H, /* device-to-host copies queued */
  DPT_EMU_D2H_BYTES,
  DPT_EMU_ALLOCS, /* successful cudaMalloc */
  DPT_EMU_FREES,  /* cudaFree of a live allocation */
  DPT_EMU_IMPLICIT_CONTEXTS, /* threads that made a context on this device without choosing it:
                                their first cudaMalloc, cudaMallocHost or stream with no
                                cudaSetDevice before (CUDA then uses device 0) */
  DPT_EMU_COUNT_KINDS
} dpt_emu_count_kind;

/* The counters of visible device `ordinal` (as cudaSetDevice numbers it) since
 * the process started: 0, or -1 for an ordinal that does not exist. */
int dpt_emu_counts(int ordinal, uint64_t out[DPT_EMU_COUNT_KINDS]);
/* A short name for a counter: "kernels", "h2d_bytes", ... */
const char *dpt_emu_count_name(dpt_emu_count_kind kind);

/* Every stream item queued from now on waits a random 0..max_us microseconds
 * before it runs (DPT_CUDA_EMU_DELAY_US sets it at start). */
void dpt_emu_set_delay_us(unsigned max_us);

/* Stream work of a kernel twin: runs on the stream's thread with the copy of
 * args. */
typedef void (*dpt_emu_kernel_fn)(void *args);

/* Queues a kernel: counts it, applies the device's kernel faults
 * (DPT_CUDA_EMU_HANG, _STICKY) and copies args_size bytes of args, as a launch
 * copies kernel parameters. The stream must belong to the current device, as
 * for a real launch. */
cudaError_t dpt_emu_launch(cudaStream_t stream, dpt_emu_kernel_fn fn, const void *args,
                           size_t args_size);

/* Inside kernel work only: the memory behind device pointer p, bytes long, or
 * NULL when that range is not inside one live allocation. On NULL the device
 * gets the sticky error cudaErrorIllegalAddress, as a GPU's out-of-range access
 * does; the kernel should return. */
void *dpt_emu_view(const void *p, size_t bytes);

#ifdef __cplusplus
}
#endif

#endif
