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
#include "dpt/timer.h"

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

#endif
