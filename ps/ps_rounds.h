/* Private to ps/: one worker's rounds, which every kind of server keeps for the workers it serves
 * (ps/ps_ops.h), the checks every push and pull start with, and the deadlines of their waits. A
 * failed check is the caller's bug: DPT_EINTERNAL, described in err; the caller then aborts the
 * server. */
#ifndef DPT_PS_ROUNDS_H
#define DPT_PS_ROUNDS_H

#include <inttypes.h>
#include <pthread.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "dpt/cache_lines.h"
#include "dpt/status.h"

/* Touched only by its worker's thread, on its own cache lines. */
typedef struct ps_worker {
  alignas(DPT_CACHE_LINE) uint64_t pushed; /* rounds pushed */
  uint64_t pulled;                         /* rounds pulled */
  uint64_t dropped_in_a_row; /* with staleness: its last pushes dropped by skip votes, in a row */
} ps_worker;

static inline int ps_check_worker(int worker, int n_workers, const char *op, dpt_err *err)
{
  if (worker >= 0 && worker < n_workers) return DPT_OK;
  return dpt_err_set(err, DPT_EINTERNAL, "ps: %s: worker %d outside 0..%d", op, worker,
                     n_workers - 1);
}

/* A worker pushes round r+1 only after pulling round r. */
static inline int ps_check_push(const ps_worker *w, int worker, dpt_err *err)
{
  if (w->pushed == w->pulled) return DPT_OK;
  return dpt_err_set(err, DPT_EINTERNAL,
                     "ps: worker %d: push of round %" PRIu64 " before pulling round %" PRIu64,
                     worker, w->pushed, w->pulled);
}

/* Shard s of K over n parameters holds [n*s/K, n*(s+1)/K): balanced, never empty since K <= n. */
static inline size_t ps_shard_start(size_t n, int n_shards, int s)
{
  return n * (size_t)s / (size_t)n_shards;
}

static inline void ps_cond_init_monotonic(pthread_cond_t *cv)
{
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* timeouts immune to wall-clock changes */
  pthread_cond_init(cv, &ca);
  pthread_condattr_destroy(&ca);
}

/* The CLOCK_MONOTONIC time `seconds` from now: every wait's deadline (the conditions wait on that
 * clock, immune to wall-clock changes). */
static inline struct timespec ps_deadline_after(double seconds)
{
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  if (seconds > 1e9) seconds = 1e9; /* keeps the sum inside time_t */
  long long ns = (long long)t.tv_nsec + (long long)((seconds - (double)(long long)seconds) * 1e9);
  t.tv_sec += (time_t)seconds + (time_t)(ns / 1000000000LL);
  t.tv_nsec = (long)(ns % 1000000000LL);
  return t;
}

#endif
