/* The shared memory a clique of NCCL communicators meets in, in one process or several: a segment
 * named after the unique id ("/dptemu-nccl-<hash>"), made by the first rank to arrive, holding a
 * process-shared robust mutex and condition variable, the ranks' devices (so NCCL's rule that a
 * communicator holds each device once spans processes: device ordinals belong to the machine), a
 * barrier, and one staging lane per rank. The last rank to leave removes the name. */
#define _DEFAULT_SOURCE /* ftruncate, MAP_SHARED with shm_open */
#include <errno.h>
#include <fcntl.h>
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "emu/emu_nccl.h"

enum { CLIQUE_MAGIC = 0x4e43434c, MAX_RANKS = 64 };

typedef struct shared {
  atomic_uint magic; /* stored last by the maker: everything else is set up */
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int nranks, joined, left;
  int device[MAX_RANKS]; /* physical ordinal by rank; -1 until the rank joins */
  bool out[MAX_RANKS];   /* the rank aborted or left */
  int outs;              /* how many are out */
  bool ready;
  int dup_a, dup_b, dup_device;
  uint64_t generation; /* the barrier's */
  int arrived;
  emu_call calls[MAX_RANKS];
  alignas(64) float lanes[]; /* nranks x EMU_LANE_FLOATS */
} shared;

struct emu_clique {
  shared *sh;
  size_t bytes;
  char name[64];
};

static size_t segment_bytes(int nranks)
{
  return sizeof(shared) + (size_t)nranks * EMU_LANE_FLOATS * sizeof(float);
}

/* FNV-1a over the id: the segment's name. */
static void name_for(const ncclUniqueId *id, char *name, size_t size)
{
  uint64_t h = 1469598103934665603u;
  for (size_t i = 0; i < sizeof id->internal; i++)
    h = (h ^ (unsigned char)id->internal[i]) * 1099511628211u;
  snprintf(name, size, "/dptemu-nccl-%016llx", (unsigned long long)h);
}

/* A robust mutex: a process that died holding it leaves it usable. */
static void lock(shared *sh)
{
  if (pthread_mutex_lock(&sh->mu) == EOWNERDEAD) pthread_mutex_consistent(&sh->mu);
}

static void unlock(shared *sh) { pthread_mutex_unlock(&sh->mu); }

static void poll_cv(shared *sh)
{
  struct timespec ts = emu_poll_deadline();
  if (pthread_cond_timedwait(&sh->cv, &sh->mu, &ts) == EOWNERDEAD)
    pthread_mutex_consistent(&sh->mu);
}

static void set_up(shared *sh, int nranks)
{
  pthread_mutexattr_t ma;
  pthread_mutexattr_init(&ma);
  pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
  pthread_mutexattr_setrobust(&ma, PTHREAD_MUTEX_ROBUST);
  pthread_mutex_init(&sh->mu, &ma);
  pthread_mutexattr_destroy(&ma);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setpshared(&ca, PTHREAD_PROCESS_SHARED);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&sh->cv, &ca);
  pthread_condattr_destroy(&ca);
  sh->nranks = nranks;
  sh->dup_a = sh->dup_b = sh->dup_device = -1;
  for (int r = 0; r < MAX_RANKS; r++) sh->device[r] = -1;
  atomic_store(&sh->magic, CLIQUE_MAGIC);
}

/* Maps the segment: made here (and set up), or made by another rank (waits, bounded, until its
 * maker has set it up). NULL when it cannot, or when its size says another nranks. */
static shared *map_segment(const char *name, int nranks, ncclResult_t *why)
{
  size_t bytes = segment_bytes(nranks);
  bool maker = true;
  int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
  if (fd < 0 && errno == EEXIST) {
    maker = false;
    fd = shm_open(name, O_RDWR, 0600);
  }
  *why = ncclSystemError;
  if (fd < 0) return NULL;
  if (maker && ftruncate(fd, (off_t)bytes) != 0) {
    close(fd);
    shm_unlink(name);
    return NULL;
  }
  /* The maker truncates before anything else: wait for the size, then for the magic. */
  struct stat st = {0};
  double t0 = emu_now();
  while (!maker && fstat(fd, &st) == 0 && st.st_size == 0 && emu_now() - t0 < 10.0) {
    struct timespec tick = {.tv_sec = 0, .tv_nsec = 1000000L};
    nanosleep(&tick, NULL);
  }
  if (!maker && (size_t)st.st_size != bytes) {
    close(fd);
    *why = ncclInvalidUsage;
    return NULL;
  }
  shared *sh = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (sh == MAP_FAILED) return NULL;
  if (maker) set_up(sh, nranks);
  while (atomic_load(&sh->magic) != CLIQUE_MAGIC && emu_now() - t0 < 10.0) {
    struct timespec tick = {.tv_sec = 0, .tv_nsec = 1000000L};
    nanosleep(&tick, NULL);
  }
  if (atomic_load(&sh->magic) != CLIQUE_MAGIC) {
    munmap(sh, bytes);
    return NULL;
  }
  return sh;
}

/* The last rank in: records two ranks that share a device, if any (mu held). */
static void complete(shared *sh)
{
  for (int a = 0; a < sh->nranks && sh->dup_a < 0; a++)
    for (int b = a + 1; b < sh->nranks; b++)
      if (sh->device[a] == sh->device[b]) {
        sh->dup_a = a;
        sh->dup_b = b;
        sh->dup_device = sh->device[a];
        break;
      }
  sh->ready = true;
  pthread_cond_broadcast(&sh->cv);
}

emu_clique *emu_clique_join(const ncclUniqueId *id, int nranks, int rank, int device,
                            ncclResult_t *why)
{
  *why = ncclInvalidArgument;
  if (nranks > MAX_RANKS) return NULL;
  emu_clique *q = calloc(1, sizeof *q);
  if (!q) return NULL;
  name_for(id, q->name, sizeof q->name);
  q->bytes = segment_bytes(nranks);
  q->sh = map_segment(q->name, nranks, why);
  if (!q->sh) {
    free(q);
    return NULL;
  }
  shared *sh = q->sh;
  lock(sh);
  bool taken = sh->nranks != nranks || sh->device[rank] >= 0 || sh->ready;
  if (!taken) {
    sh->device[rank] = device;
    if (++sh->joined == sh->nranks) complete(sh);
  }
  unlock(sh);
  if (taken) {
    munmap(sh, q->bytes);
    free(q);
    *why = ncclInvalidUsage;
    return NULL;
  }
  return q;
}

/* Marks rank out (mu held). */
static void mark_out(shared *sh, int rank)
{
  if (!sh->out[rank]) sh->outs++;
  sh->out[rank] = true;
  pthread_cond_broadcast(&sh->cv);
}

void emu_clique_leave(emu_clique *q, int rank)
{
  shared *sh = q->sh;
  lock(sh);
  mark_out(sh, rank);
  bool last = ++sh->left == sh->joined;
  pthread_cond_broadcast(&sh->cv);
  unlock(sh);
  if (last) shm_unlink(q->name);
  munmap(sh, q->bytes);
  free(q);
}

bool emu_clique_ready(emu_clique *q, int *dup_a, int *dup_b, int *device)
{
  shared *sh = q->sh;
  lock(sh);
  bool ready = sh->ready;
  *dup_a = sh->dup_a;
  *dup_b = sh->dup_b;
  *device = sh->dup_device;
  unlock(sh);
  return ready;
}

void emu_clique_wake(emu_clique *q)
{
  lock(q->sh);
  pthread_cond_broadcast(&q->sh->cv);
  unlock(q->sh);
}

bool emu_clique_abort(emu_clique *q, int rank)
{
  shared *sh = q->sh;
  double t0 = emu_now();
  lock(sh);
  mark_out(sh, rank);
  bool all_out;
  while (!(all_out = sh->outs >= sh->joined) && emu_now() - t0 <= emu_wait_limit_s()) poll_cv(sh);
  unlock(sh);
  return all_out;
}

bool emu_clique_barrier(emu_clique *q, emu_gone_fn gone, void *ctx)
{
  shared *sh = q->sh;
  double t0 = emu_now();
  lock(sh);
  uint64_t generation = sh->generation;
  if (++sh->arrived == sh->nranks) {
    sh->arrived = 0;
    sh->generation++;
    pthread_cond_broadcast(&sh->cv);
    unlock(sh);
    return true;
  }
  bool met = true;
  while (sh->generation == generation) {
    if (gone(ctx) || emu_now() - t0 > emu_wait_limit_s()) {
      sh->arrived--; /* this rank is no longer waiting */
      met = false;
      break;
    }
    poll_cv(sh);
  }
  unlock(sh);
  return met;
}

float *emu_clique_lane(emu_clique *q, int rank)
{
  return q->sh->lanes + (size_t)rank * EMU_LANE_FLOATS;
}

emu_call *emu_clique_call(emu_clique *q, int rank) { return &q->sh->calls[rank]; }
