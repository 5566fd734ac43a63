/* Streams: each has its own thread that runs the stream's queued work in order,
 * after the call that queued it has returned (cudaStreamCreate*,
 * cudaStreamDestroy, cudaStreamSynchronize, cudaStreamQuery). The legacy and
 * per-thread default streams are one stream per device, made on first use. Once
 * a device has a sticky error its streams drop their work, as a broken context
 * does. When the process exits, the streams stop taking work and exit() waits (up to
 * EXIT_WAIT_S) for the work running then: a GEMM still running on OpenBLAS while its
 * destructor tears it down would crash the exit, as a run given up on a stuck device exits. */
#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "emu/emu_internal.h"

enum { STREAM_MAGIC = 0x5e7ea111 };
#define EXIT_WAIT_S 2.0

/* Process-wide, as exit is: set by the exit handler; streams' work running now. */
static atomic_bool exiting;
static atomic_int running;
static pthread_once_t exit_hook_once = PTHREAD_ONCE_INIT;

/* At exit: no stream starts more work, and what runs finishes first (a hung kernel notices the
 * stop and ends). Seq-cst order makes it a handshake with run_work: either the handler sees the
 * stream's running count, or the stream sees exiting. */
static void stop_streams_at_exit(void)
{
  atomic_store(&exiting, true);
  double t0 = emu_now();
  while (atomic_load(&running) > 0 && emu_now() - t0 < EXIT_WAIT_S) {
    struct timespec ts = {0, 1000 * 1000};
    nanosleep(&ts, NULL);
  }
}

static void hook_exit(void) { atexit(stop_streams_at_exit); }


struct emu_work {
  emu_work *next;
  emu_run_fn run;
  unsigned delay_us;
  alignas(max_align_t) unsigned char args[];
};

/* A stream handle is a pointer to this: the magic tells a stream from garbage.
 */
typedef struct stream_handle {
  unsigned magic;
  emu_stream s;
} stream_handle;

static stream_handle *handle_of(emu_stream *s)
{
  return (stream_handle *)((char *)s - offsetof(stream_handle, s));
}

void emu_stream_retain(emu_stream *s) { atomic_fetch_add(&s->refs, 1); }

void emu_stream_release(emu_stream *s)
{
  if (atomic_fetch_sub(&s->refs, 1) != 1) return;
  pthread_mutex_destroy(&s->mu);
  pthread_cond_destroy(&s->cv);
  stream_handle *h = handle_of(s);
  h->magic = 0;
  free(h);
}

static void pause_us(unsigned us)
{
  struct timespec ts = {.tv_sec = us / 1000000u, .tv_nsec = (long)(us % 1000000u) * 1000L};
  nanosleep(&ts, NULL);
}

/* Takes the next item, or NULL once the stream is stopped and drained. */
static emu_work *next_work(emu_stream *s)
{
  pthread_mutex_lock(&s->mu);
  while (!s->head && !s->stop) emu_cond_poll(&s->cv, &s->mu);
  emu_work *w = s->head;
  if (w) {
    s->head = w->next;
    if (!s->head) s->tail = NULL;
  }
  pthread_mutex_unlock(&s->mu);
  return w;
}

static void run_work(emu_stream *s, emu_work *w)
{
  atomic_fetch_add(&running, 1);
  if (!atomic_load(&exiting) && emu_sticky(s->device) == cudaSuccess) w->run(s, w->args);
  atomic_fetch_sub(&running, 1);
}

static void *stream_main(void *p)
{
  emu_stream *s = p;
  for (emu_work *w; (w = next_work(s));) {
    if (w->delay_us) pause_us(w->delay_us);
    run_work(s, w);
    free(w);
    pthread_mutex_lock(&s->mu);
    s->completed++;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
  }
  emu_device_remove_stream(s->device, s);
  emu_stream_release(s);
  return NULL;
}

cudaError_t emu_stream_create(int device, unsigned flags, bool is_default, emu_stream **out)
{
  stream_handle *h = calloc(1, sizeof *h);
  if (!h) return cudaErrorMemoryAllocation;
  h->magic = STREAM_MAGIC;
  emu_stream *s = &h->s;
  s->device = device;
  s->flags = flags;
  s->is_default = is_default;
  pthread_once(&exit_hook_once, hook_exit);
  atomic_init(&s->refs, 2); /* the owner and the thread */
  pthread_mutex_init(&s->mu, NULL);
  emu_cond_init(&s->cv);
  if (emu_device_add_stream(device, s) != cudaSuccess) {
    free(h);
    return cudaErrorMemoryAllocation;
  }
  if (pthread_create(&s->thread, NULL, stream_main, s) != 0) {
    emu_device_remove_stream(device, s);
    free(h);
    return cudaErrorMemoryAllocation;
  }
  pthread_detach(s->thread);
  *out = s;
  return cudaSuccess;
}

void emu_stream_destroy(emu_stream *s)
{
  pthread_mutex_lock(&s->mu);
  s->stop = true;
  pthread_cond_broadcast(&s->cv);
  pthread_mutex_unlock(&s->mu);
  emu_stream_release(s);
}

bool emu_stream_stopping(emu_stream *s)
{
  pthread_mutex_lock(&s->mu);
  bool stop = s->stop;
  pthread_mutex_unlock(&s->mu);
  return stop || atomic_load(&exiting);
}

/* xorshift64*, shared by every stream: the delays need spread, not quality. */
static unsigned random_delay(unsigned max_us)
{
  static _Atomic uint64_t state = 0x9e3779b97f4a7c15u;
  uint64_t x = atomic_load(&state), next;
  do {
    next = x ^ (x >> 12);
    next ^= next << 25;
    next ^= next >> 27;
  } while (!atomic_compare_exchange_weak(&state, &x, next));
  return (unsigned)((next * 2685821657736338717u) >> 33) % (max_us + 1);
}

cudaError_t emu_stream_enqueue(emu_stream *s, emu_run_fn run, const void *args, size_t args_size)
{
  emu_work *w = malloc(sizeof *w + args_size);
  if (!w) return cudaErrorMemoryAllocation;
  w->next = NULL;
  w->run = run;
  unsigned max_us = emu_delay_us();
  w->delay_us = max_us ? random_delay(max_us) : 0;
  if (args_size) memcpy(w->args, args, args_size);
  pthread_mutex_lock(&s->mu);
  if (s->tail)
    s->tail->next = w;
  else
    s->head = w;
  s->tail = w;
  s->enqueued++;
  pthread_cond_broadcast(&s->cv);
  pthread_mutex_unlock(&s->mu);
  return cudaSuccess;
}

cudaError_t emu_stream_wait_idle(emu_stream *s)
{
  double t0 = emu_now(), limit = emu_wait_limit_s();
  pthread_mutex_lock(&s->mu);
  uint64_t target = s->enqueued;
  bool late = false;
  while (s->completed < target && !(late = emu_now() - t0 > limit)) emu_cond_poll(&s->cv, &s->mu);
  pthread_mutex_unlock(&s->mu);
  if (late) return cudaErrorLaunchTimeout;
  return emu_sticky(s->device);
}

static emu_stream *default_stream(cudaError_t *err)
{
  int dev = emu_current_physical();
  emu_device *d = emu_dev(dev);
  if (!d) {
    *err = cudaErrorNoDevice;
    return NULL;
  }
  pthread_mutex_lock(&d->mu);
  emu_stream *s = d->default_stream;
  pthread_mutex_unlock(&d->mu);
  if (s) return s;
  /* Made outside the lock (creating registers the stream under it); a racing
   * maker's extra stream is dropped. */
  if ((*err = emu_stream_create(dev, cudaStreamDefault, true, &s)) != cudaSuccess) return NULL;
  pthread_mutex_lock(&d->mu);
  emu_stream *won = d->default_stream ? d->default_stream : s;
  d->default_stream = won;
  pthread_mutex_unlock(&d->mu);
  if (won != s) emu_stream_destroy(s);
  return won;
}

emu_stream *emu_stream_resolve(cudaStream_t handle, cudaError_t *err)
{
  *err = cudaSuccess;
  if (!handle || handle == cudaStreamLegacy || handle == cudaStreamPerThread)
    return default_stream(err);
  stream_handle *h = (stream_handle *)(void *)handle;
  if (h->magic != STREAM_MAGIC) {
    *err = cudaErrorInvalidResourceHandle;
    return NULL;
  }
  return &h->s;
}

static cudaStream_t as_handle(emu_stream *s) { return (cudaStream_t)(void *)handle_of(s); }

cudaError_t cudaStreamCreateWithFlags(cudaStream_t *pStream, unsigned int flags)
{
  if (!pStream) return emu_fail(cudaErrorInvalidValue);
  int dev = emu_context_physical();
  if (dev < 0) return emu_fail(cudaErrorNoDevice);
  cudaError_t sticky = emu_sticky(dev);
  if (sticky != cudaSuccess) return emu_fail(sticky);
  emu_stream *s = NULL;
  cudaError_t rc = emu_stream_create(dev, flags, false, &s);
  if (rc != cudaSuccess) return emu_fail(rc);
  *pStream = as_handle(s);
  return cudaSuccess;
}

cudaError_t cudaStreamCreate(cudaStream_t *pStream)
{
  return cudaStreamCreateWithFlags(pStream, cudaStreamDefault);
}

cudaError_t cudaStreamDestroy(cudaStream_t stream)
{
  cudaError_t rc;
  emu_stream *s = stream ? emu_stream_resolve(stream, &rc) : NULL;
  if (!s || s->is_default) return emu_fail(cudaErrorInvalidResourceHandle);
  handle_of(s)->magic = 0; /* the handle is gone for the caller at once */
  emu_stream_destroy(s);
  return cudaSuccess;
}

cudaError_t cudaStreamSynchronize(cudaStream_t stream)
{
  cudaError_t rc;
  emu_stream *s = emu_stream_resolve(stream, &rc);
  if (!s) return emu_fail(rc);
  emu_count(s->device, DPT_EMU_HOST_WAITS, 1);
  return emu_fail(emu_stream_wait_idle(s));
}

cudaError_t cudaStreamQuery(cudaStream_t stream)
{
  cudaError_t rc;
  emu_stream *s = emu_stream_resolve(stream, &rc);
  if (!s) return emu_fail(rc);
  pthread_mutex_lock(&s->mu);
  bool done = s->completed == s->enqueued;
  bool first_poll = !done && s->polled_target != s->enqueued;
  if (first_poll) s->polled_target = s->enqueued;
  pthread_mutex_unlock(&s->mu);
  if (first_poll) emu_count(s->device, DPT_EMU_HOST_WAITS, 1);
  cudaError_t sticky = emu_sticky(s->device);
  if (sticky != cudaSuccess) return emu_fail(sticky);
  /* cudaErrorNotReady is an answer, not an error: CUDA leaves the last-error
   * slot alone. */
  return done ? cudaSuccess : cudaErrorNotReady;
}
