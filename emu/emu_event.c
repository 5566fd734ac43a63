/* Events: cudaEventRecord queues a marker on a stream; the event is complete
 * once the stream has run every item queued before the marker (cudaEventQuery,
 * cudaEventSynchronize), and cudaStreamWaitEvent makes a stream's later work
 * wait for the record made before the call, as CUDA documents. An event never
 * recorded is complete. */
#include <stdlib.h>

#include "emu/emu_internal.h"

enum { EVENT_MAGIC = 0xe7e47777 };

typedef struct emu_event {
  unsigned magic;
  int device;
  atomic_int refs; /* the owner's and each queued item's */
  pthread_mutex_t mu;
  pthread_cond_t cv;
  uint64_t recorded, completed, polled; /* record generations, under mu */
} emu_event;

static void release(emu_event *e)
{
  if (atomic_fetch_sub(&e->refs, 1) != 1) return;
  pthread_mutex_destroy(&e->mu);
  pthread_cond_destroy(&e->cv);
  free(e);
}

static emu_event *resolve(cudaEvent_t handle)
{
  emu_event *e = (emu_event *)(void *)handle;
  return e && e->magic == EVENT_MAGIC ? e : NULL;
}

cudaError_t cudaEventCreateWithFlags(cudaEvent_t *event, unsigned int flags)
{
  if (!event) return emu_fail(cudaErrorInvalidValue);
  int dev = emu_current_physical();
  if (dev < 0) return emu_fail(cudaErrorNoDevice);
  emu_event *e = calloc(1, sizeof *e);
  if (!e) return emu_fail(cudaErrorMemoryAllocation);
  e->magic = EVENT_MAGIC;
  e->device = dev;
  atomic_init(&e->refs, 1);
  pthread_mutex_init(&e->mu, NULL);
  emu_cond_init(&e->cv);
  *event = (cudaEvent_t)(void *)e;
  return cudaSuccess;
}

cudaError_t cudaEventCreate(cudaEvent_t *event) { return cudaEventCreateWithFlags(event, 0); }

/* Returns at once; a record still queued keeps the event alive until it has
 * run. */
cudaError_t cudaEventDestroy(cudaEvent_t event)
{
  emu_event *e = resolve(event);
  if (!e) return emu_fail(cudaErrorInvalidResourceHandle);
  e->magic = 0;
  release(e);
  return cudaSuccess;
}

typedef struct mark_args {
  emu_event *e;
  uint64_t generation;
} mark_args;

static void run_record(emu_stream *s, void *p)
{
  mark_args *a = p;
  pthread_mutex_lock(&a->e->mu);
  if (a->e->completed < a->generation) a->e->completed = a->generation;
  pthread_cond_broadcast(&a->e->cv);
  pthread_mutex_unlock(&a->e->mu);
  release(a->e);
}

cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream)
{
  emu_event *e = resolve(event);
  if (!e) return emu_fail(cudaErrorInvalidResourceHandle);
  cudaError_t rc;
  emu_stream *s = emu_stream_resolve(stream, &rc);
  if (!s) return emu_fail(rc);
  if (s->device != e->device) return emu_fail(cudaErrorInvalidResourceHandle);
  atomic_fetch_add(&e->refs, 1);
  pthread_mutex_lock(&e->mu);
  mark_args a = {.e = e, .generation = ++e->recorded};
  pthread_mutex_unlock(&e->mu);
  rc = emu_stream_enqueue(s, run_record, &a, sizeof a);
  if (rc != cudaSuccess) release(e);
  return emu_fail(rc);
}

cudaError_t cudaEventQuery(cudaEvent_t event)
{
  emu_event *e = resolve(event);
  if (!e) return emu_fail(cudaErrorInvalidResourceHandle);
  pthread_mutex_lock(&e->mu);
  bool done = e->completed >= e->recorded;
  bool first_poll = !done && e->polled != e->recorded;
  if (first_poll) e->polled = e->recorded;
  pthread_mutex_unlock(&e->mu);
  if (first_poll) emu_count(e->device, DPT_EMU_HOST_WAITS, 1);
  cudaError_t sticky = emu_sticky(e->device);
  if (sticky != cudaSuccess) return emu_fail(sticky);
  return done ? cudaSuccess : cudaErrorNotReady;
}

/* Waits until generation is complete; false when stop() turned true or the wait
 * limit passed. */
static bool wait_generation(emu_event *e, uint64_t generation, emu_stream *stopper)
{
  double t0 = emu_now(), limit = emu_wait_limit_s();
  bool ok = true;
  pthread_mutex_lock(&e->mu);
  while (e->completed < generation) {
    if (emu_now() - t0 > limit || (stopper && emu_stream_stopping(stopper))) {
      ok = false;
      break;
    }
    emu_cond_poll(&e->cv, &e->mu);
  }
  pthread_mutex_unlock(&e->mu);
  return ok;
}

cudaError_t cudaEventSynchronize(cudaEvent_t event)
{
  emu_event *e = resolve(event);
  if (!e) return emu_fail(cudaErrorInvalidResourceHandle);
  emu_count(e->device, DPT_EMU_HOST_WAITS, 1);
  pthread_mutex_lock(&e->mu);
  uint64_t target = e->recorded;
  pthread_mutex_unlock(&e->mu);
  if (!wait_generation(e, target, NULL)) return emu_fail(cudaErrorLaunchTimeout);
  return emu_fail(emu_sticky(e->device));
}

static void run_wait(emu_stream *s, void *p)
{
  mark_args *a = p;
  if (!wait_generation(a->e, a->generation, s) && !emu_stream_stopping(s))
    emu_set_sticky(s->device, cudaErrorLaunchTimeout);
  release(a->e);
}

cudaError_t cudaStreamWaitEvent(cudaStream_t stream, cudaEvent_t event, unsigned int flags)
{
  emu_event *e = resolve(event);
  if (!e) return emu_fail(cudaErrorInvalidResourceHandle);
  cudaError_t rc;
  emu_stream *s = emu_stream_resolve(stream, &rc);
  if (!s) return emu_fail(rc);
  pthread_mutex_lock(&e->mu);
  mark_args a = {.e = e, .generation = e->recorded};
  pthread_mutex_unlock(&e->mu);
  if (a.generation == 0) return cudaSuccess;
  atomic_fetch_add(&e->refs, 1);
  rc = emu_stream_enqueue(s, run_wait, &a, sizeof a);
  if (rc != cudaSuccess) release(e);
  return emu_fail(rc);
}
