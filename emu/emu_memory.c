/* Device memory out of the host's reach, and pinned host memory.
 *
 * At start the emulator reserves two address ranges of DPT_CUDA_EMU_MEMORY_MB
 * (default 4096) MiB per device, both inaccessible. cudaMalloc hands out
 * addresses in the first (the device view), which stays inaccessible for ever,
 * so host code that dereferences a device pointer dies of SIGSEGV; the same
 * offset in the second (the stream view) is made readable and writable, and
 * only the emulator's stream work reaches memory through it (emu_view).
 * cudaFree makes the pages inaccessible again, so stream work that uses freed
 * memory fails. New allocations are filled with 0xff bytes (a NaN in every
 * float), as a GPU's memory holds whatever was there before.
 *
 * Pinned host memory (cudaMallocHost) is ordinary host memory, remembered only
 * so that cudaFreeHost can tell it from a pointer it never gave out. */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS, MAP_NORESERVE, madvise */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "emu/emu_internal.h"

enum { PAGE = 4096 };

typedef struct allocation {
  size_t off, bytes, span; /* span: bytes rounded up to whole pages */
} allocation;

typedef struct heap {
  pthread_mutex_t mu;
  allocation *list; /* sorted by off */
  int n, cap;
} heap;

static heap heaps[EMU_MAX_DEVICES];
static char *device_base, *stream_base;
static size_t device_span;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void reserve(void)
{
  const char *v = getenv("DPT_CUDA_EMU_MEMORY_MB");
  long mb = 4096;
  if (v && *v) {
    char *end = NULL;
    mb = strtol(v, &end, 10);
    if (end == v || *end || mb < 1 || mb > (1L << 20)) {
      fprintf(stderr,
              "dpt cuda emulator: DPT_CUDA_EMU_MEMORY_MB='%s': expected "
              "1..1048576\n",
              v);
      exit(2);
    }
  }
  int n = emu_physical_count();
  for (int d = 0; d < n; d++) pthread_mutex_init(&heaps[d].mu, NULL);
  if (n == 0) return;
  device_span = (size_t)mb << 20;
  size_t total = device_span * (size_t)n;
  int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
  void *a = mmap(NULL, total, PROT_NONE, flags, -1, 0);
  void *b = mmap(NULL, total, PROT_NONE, flags, -1, 0);
  if (a == MAP_FAILED || b == MAP_FAILED) {
    fprintf(stderr,
            "dpt cuda emulator: cannot reserve %ld MiB x %d devices of address "
            "space\n",
            mb, n);
    exit(1);
  }
  device_base = a;
  stream_base = b;
}

static void setup(void) { pthread_once(&once, reserve); }

int emu_address_device(const void *p)
{
  setup();
  const char *c = p;
  if (!device_base || c < device_base ||
      c >= device_base + device_span * (size_t)emu_physical_count())
    return -1;
  return (int)((size_t)(c - device_base) / device_span);
}

bool emu_is_device_address(const void *p) { return emu_address_device(p) >= 0; }

/* The index of the allocation holding offset off, or -1 (h->mu held). */
static int find(const heap *h, size_t off)
{
  int lo = 0, hi = h->n - 1;
  while (lo <= hi) {
    int mid = (lo + hi) / 2;
    const allocation *a = &h->list[mid];
    if (off < a->off)
      hi = mid - 1;
    else if (off >= a->off + a->span)
      lo = mid + 1;
    else
      return mid;
  }
  return -1;
}

void *emu_view(const void *p, size_t bytes)
{
  int d = emu_address_device(p);
  if (d < 0) return NULL;
  size_t off = (size_t)((const char *)p - device_base) - (size_t)d * device_span;
  heap *h = &heaps[d];
  pthread_mutex_lock(&h->mu);
  int i = find(h, off);
  size_t into = i >= 0 ? off - h->list[i].off : 0; /* may be in the page's padding */
  bool inside = i >= 0 && into <= h->list[i].bytes && bytes <= h->list[i].bytes - into;
  pthread_mutex_unlock(&h->mu);
  return inside ? stream_base + (size_t)d * device_span + off : NULL;
}

/* First fit: the lowest gap of span bytes; returns its index in the sorted
 * list, or -1. */
static int place(heap *h, size_t span, size_t *off)
{
  size_t at = 0;
  int i = 0;
  for (; i < h->n; i++) {
    if (h->list[i].off - at >= span) break;
    at = h->list[i].off + h->list[i].span;
  }
  if (device_span - at < span) return -1;
  *off = at;
  return i;
}

static cudaError_t heap_alloc(int d, size_t bytes, void **out)
{
  heap *h = &heaps[d];
  if (bytes > device_span) return cudaErrorMemoryAllocation;
  size_t span = (bytes + PAGE - 1) / PAGE * PAGE, off = 0;
  pthread_mutex_lock(&h->mu);
  int i = place(h, span, &off);
  if (i >= 0 && h->n == h->cap) {
    int cap = h->cap ? 2 * h->cap : 64;
    allocation *grown = realloc(h->list, (size_t)cap * sizeof *grown);
    if (grown) {
      h->list = grown;
      h->cap = cap;
    } else {
      i = -1;
    }
  }
  char *rw = stream_base + (size_t)d * device_span + off;
  if (i >= 0 && mprotect(rw, span, PROT_READ | PROT_WRITE) != 0) i = -1;
  if (i >= 0) {
    memmove(&h->list[i + 1], &h->list[i], (size_t)(h->n - i) * sizeof h->list[0]);
    h->list[i] = (allocation){.off = off, .bytes = bytes, .span = span};
    h->n++;
  }
  pthread_mutex_unlock(&h->mu);
  if (i < 0) return cudaErrorMemoryAllocation;
  memset(rw, 0xff, span);
  *out = device_base + (size_t)d * device_span + off;
  return cudaSuccess;
}

cudaError_t cudaMalloc(void **devPtr, size_t size)
{
  if (!devPtr) return emu_fail(cudaErrorInvalidValue);
  setup();
  int d = emu_context_physical();
  if (d < 0) return emu_fail(cudaErrorNoDevice);
  cudaError_t sticky = emu_sticky(d);
  if (sticky != cudaSuccess) return emu_fail(sticky);
  *devPtr = NULL;
  emu_fault f = emu_fault_get(EMU_FAULT_ALLOC);
  long nth = atomic_fetch_add(&emu_dev(d)->allocs_seen, 1) + 1;
  if (f.device == d && f.nth == nth) return emu_fail(cudaErrorMemoryAllocation);
  if (size == 0) return cudaSuccess;
  cudaError_t rc = heap_alloc(d, size, devPtr);
  if (rc != cudaSuccess) return emu_fail(rc);
  emu_count(d, DPT_EMU_ALLOCS, 1);
  return cudaSuccess;
}

/* Waits for the device first, as CUDA's cudaFree does: queued work may still
 * use the memory. */
cudaError_t cudaFree(void *devPtr)
{
  if (!devPtr) return cudaSuccess;
  int d = emu_address_device(devPtr);
  if (d < 0) return emu_fail(cudaErrorInvalidValue);
  cudaError_t rc = emu_device_wait_idle(d);
  if (rc != cudaSuccess) return emu_fail(rc);
  heap *h = &heaps[d];
  size_t off = (size_t)((char *)devPtr - device_base) - (size_t)d * device_span;
  pthread_mutex_lock(&h->mu);
  int i = find(h, off);
  bool found = i >= 0 && h->list[i].off == off;
  if (found) {
    char *rw = stream_base + (size_t)d * device_span + off;
    (void)madvise(rw, h->list[i].span, MADV_DONTNEED);
    (void)mprotect(rw, h->list[i].span, PROT_NONE);
    memmove(&h->list[i], &h->list[i + 1], (size_t)(h->n - i - 1) * sizeof h->list[0]);
    h->n--;
  }
  pthread_mutex_unlock(&h->mu);
  if (!found) return emu_fail(cudaErrorInvalidValue);
  emu_count(d, DPT_EMU_FREES, 1);
  return cudaSuccess;
}

/* --- pinned host memory
 * ----------------------------------------------------------------------- */

static pthread_mutex_t pinned_mu = PTHREAD_MUTEX_INITIALIZER;
static void **pinned;
static size_t n_pinned, cap_pinned;

cudaError_t cudaMallocHost(void **ptr, size_t size)
{
  if (!ptr) return emu_fail(cudaErrorInvalidValue);
  *ptr = NULL;
  if (emu_context_physical() < 0) return emu_fail(cudaErrorNoDevice);
  void *p = malloc(size ? size : 1);
  pthread_mutex_lock(&pinned_mu);
  if (p && n_pinned == cap_pinned) {
    size_t cap = cap_pinned ? 2 * cap_pinned : 64;
    void **grown = realloc(pinned, cap * sizeof *grown);
    if (grown) {
      pinned = grown;
      cap_pinned = cap;
    }
  }
  bool kept = p && n_pinned < cap_pinned;
  if (kept) pinned[n_pinned++] = p;
  pthread_mutex_unlock(&pinned_mu);
  if (!kept) {
    free(p);
    return emu_fail(cudaErrorMemoryAllocation);
  }
  *ptr = p;
  return cudaSuccess;
}

cudaError_t cudaHostAlloc(void **pHost, size_t size, unsigned int flags)
{
  return cudaMallocHost(pHost, size);
}

cudaError_t cudaFreeHost(void *ptr)
{
  if (!ptr) return cudaSuccess;
  pthread_mutex_lock(&pinned_mu);
  size_t i = 0;
  while (i < n_pinned && pinned[i] != ptr) i++;
  bool found = i < n_pinned;
  if (found) pinned[i] = pinned[--n_pinned];
  pthread_mutex_unlock(&pinned_mu);
  if (!found) return emu_fail(cudaErrorInvalidValue);
  free(ptr);
  return cudaSuccess;
}
