/* Private to emu/: the emulated machine's devices, streams, work items and
 * waits, shared by the files that implement the CUDA runtime, cuBLAS and NCCL
 * on top of them.
 *
 * The machine is process-wide, as a driver's is: one table of devices
 * (emu_devices.c), each with its counters, fault plan, sticky error and default
 * stream. Everything else (streams, events, handles, communicators) is an
 * object the caller owns. */
#ifndef DPT_EMU_INTERNAL_H
#define DPT_EMU_INTERNAL_H

#include <cuda_runtime_api.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "emu/cuda_emu.h"

enum { EMU_MAX_DEVICES = 16 };

/* --- waits
 * ------------------------------------------------------------------------------------
 */

/* Every wait in the emulator is a loop of short timed waits on a condition
 * variable: it notices a stop flag within EMU_POLL_MS and gives up after
 * emu_wait_limit_s() (DPT_CUDA_EMU_WAIT_LIMIT_S), so nothing in a test run can
 * hang for ever. */
enum { EMU_POLL_MS = 50 };

double emu_now(void);
double emu_wait_limit_s(void);
/* One timed wait of at most EMU_POLL_MS on cv (mu held). */
void emu_cond_poll(pthread_cond_t *cv, pthread_mutex_t *mu);
/* EMU_POLL_MS from now on the monotonic clock, which every condition variable here uses. */
struct timespec emu_poll_deadline(void);
/* The condition variables here use the monotonic clock. */
void emu_cond_init(pthread_cond_t *cv);

/* --- streams and their work
 * ------------------------------------------------------------------- */

typedef struct emu_work emu_work;
typedef struct emu_stream emu_stream;

/* One queued piece of stream work. run executes it on the stream's thread; args
 * is a copy the queue owns (freed after run). */
typedef void (*emu_run_fn)(emu_stream *s, void *args);

struct emu_stream {
  int device; /* physical ordinal */
  unsigned flags;
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t cv; /* signalled on new work, completed work and stop */
  emu_work *head, *tail;
  uint64_t enqueued, completed; /* work items, under mu */
  uint64_t polled_target;       /* the last `enqueued` a cudaStreamQuery poll was
                                   counted for */
  bool stop;                    /* destroyed: finish the queue, then end the thread */
  bool is_default;
  atomic_int refs; /* the owner's, the thread's, and each waiter's outside the owner */
};

/* A new stream of physical device `device` with its own thread. */
cudaError_t emu_stream_create(int device, unsigned flags, bool is_default, emu_stream **out);
/* Queues run(args) (args_size bytes copied) on s, after the random delay of
 * DPT_CUDA_EMU_DELAY_US. */
cudaError_t emu_stream_enqueue(emu_stream *s, emu_run_fn run, const void *args, size_t args_size);
/* References for waiters that are not the owner (cudaDeviceSynchronize): the
 * last release frees. */
void emu_stream_retain(emu_stream *s);
void emu_stream_release(emu_stream *s);
/* Marks the stream destroyed: it runs what is queued, then its thread ends and
 * drops it. */
void emu_stream_destroy(emu_stream *s);
/* Waits until every item queued before the call has run. */
cudaError_t emu_stream_wait_idle(emu_stream *s);
/* The stream named by a cudaStream_t (0, cudaStreamLegacy and
 * cudaStreamPerThread: the current device's default stream). NULL with *err set
 * when the handle is invalid. */
emu_stream *emu_stream_resolve(cudaStream_t handle, cudaError_t *err);
/* True while the stream is being destroyed: long waits inside stream work end
 * early. */
bool emu_stream_stopping(emu_stream *s);

/* --- devices
 * ----------------------------------------------------------------------------------
 */

typedef struct emu_fault {
  long device; /* -1: none */
  long nth;    /* the nth event of its kind (1-based) on that device */
} emu_fault;

typedef struct emu_device {
  atomic_uint_fast64_t counts[DPT_EMU_COUNT_KINDS];
  atomic_long kernels_seen, allocs_seen;
  atomic_int sticky;  /* cudaSuccess, or the error that broke the device's context */
  pthread_mutex_t mu; /* guards the stream list and the default stream */
  emu_stream *default_stream;
  emu_stream *streams[256]; /* every live stream of the device, for
                               cudaDeviceSynchronize */
  int n_streams;
} emu_device;

/* emu_machine.c: the device table, set up on first use from the environment (exits with a
 * one-line message on a malformed variable). */
int emu_physical_count(void);
/* Visible ordinal (CUDA_VISIBLE_DEVICES) to physical ordinal, or -1. */
int emu_visible_to_physical(int ordinal);
int emu_visible_count(void);
emu_device *emu_dev(int physical);
/* The calling thread's current device (physical), cudaSetDevice's; -1 when
 * there is none. */
int emu_current_physical(void);
/* The calling thread's current visible ordinal, and setting it (false: no such device). */
int emu_current_ordinal(void);
bool emu_set_current(int ordinal);
/* The current device for a call that needs a context (cudaMalloc, cudaMallocHost, a stream): as
 * emu_current_physical, and a thread that never chose a device counts an implicit context. */
int emu_context_physical(void);
/* Registers or forgets a stream for cudaDeviceSynchronize. */
cudaError_t emu_device_add_stream(int physical, emu_stream *s);
void emu_device_remove_stream(int physical, emu_stream *s);
/* emu_devices.c: waits for every stream of the device. */
cudaError_t emu_device_wait_idle(int physical);

void emu_count(int physical, dpt_emu_count_kind kind, uint64_t n);

/* --- errors
 * -----------------------------------------------------------------------------------
 */

/* Records e as the thread's last error (cudaGetLastError) and returns it. */
cudaError_t emu_fail(cudaError_t e);
/* The device's sticky error, or cudaSuccess: every call on a broken device
 * returns it. */
cudaError_t emu_sticky(int physical);
void emu_set_sticky(int physical, cudaError_t e);

/* --- faults (emu_faults.c)
 * -------------------------------------------------------------------- */

typedef enum {
  EMU_FAULT_HANG,
  EMU_FAULT_STICKY,
  EMU_FAULT_ALLOC,
  EMU_FAULT_NCCL,
  EMU_FAULT_KINDS
} emu_fault_kind;
/* The fault plan from the environment (DPT_CUDA_EMU_HANG and friends). */
emu_fault emu_fault_get(emu_fault_kind kind);
/* Delay before each stream item, in microseconds (DPT_CUDA_EMU_DELAY_US or
 * dpt_emu_set_delay_us). */
unsigned emu_delay_us(void);

/* --- memory (emu_memory.c)
 * -------------------------------------------------------------------- */

/* Whether p lies in some device's address range (live or not). */
bool emu_is_device_address(const void *p);
/* The read/write view of [p, p + bytes) when that range lies inside one live
 * allocation; NULL otherwise. Only stream work may use it. */
void *emu_view(const void *p, size_t bytes);
/* The physical device a device address belongs to, or -1. */
int emu_address_device(const void *p);

#endif
