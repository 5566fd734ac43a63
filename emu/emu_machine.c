/* The emulated machine, process-wide as a driver's state is: how many devices
 * (DPT_CUDA_EMU_DEVICES, default 4), which this process sees (CUDA_VISIBLE_DEVICES), the calling
 * thread's current device (device 0 until cudaSetDevice), and per device its counters, sticky
 * error and live streams. Calls nothing above it: the CUDA API over it is emu_devices.c. */
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

/* Whether this thread chose its device, or already made a context on the default one. */
static _Thread_local bool context_known = false;

bool emu_set_current(int ordinal)
{
  if (emu_visible_to_physical(ordinal) < 0) return false;
  current_visible = ordinal;
  context_known = true;
  return true;
}

int emu_context_physical(void)
{
  int dev = emu_current_physical();
  if (!context_known && dev >= 0) emu_count(dev, DPT_EMU_IMPLICIT_CONTEXTS, 1);
  context_known = true;
  return dev;
}

int emu_current_ordinal(void) { return current_visible; }

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

cudaError_t emu_sticky(int physical)
{
  emu_device *d = emu_dev(physical);
  return d ? (cudaError_t)atomic_load(&d->sticky) : cudaSuccess;
}

void emu_set_sticky(int physical, cudaError_t e)
{
  emu_device *d = emu_dev(physical);
  int none = cudaSuccess;
  if (d) atomic_compare_exchange_strong(&d->sticky, &none, (int)e);
}

void emu_count(int physical, dpt_emu_count_kind kind, uint64_t n)
{
  emu_device *d = emu_dev(physical);
  if (d) atomic_fetch_add(&d->counts[kind], n);
}
