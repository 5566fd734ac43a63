/* A reusable thread barrier that can be woken by an error and times out, so a failing or stalled
 * thread stops the others instead of hanging them. */
#ifndef DPT_BARRIER_H
#define DPT_BARRIER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "dpt/status.h"

typedef struct dpt_barrier {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int parties;          /* still taking part */
  int parties_max;      /* at init: the parties' indexes run 0..parties_max-1 */
  int arrived;
  _Atomic unsigned long generation; /* written under mu; read without it while spinning */
  double timeout_s;     /* <= 0: wait forever (still wakeable by abort) */
  _Atomic int abort_code; /* != 0 once aborted: every present and future wait fails */
  char abort_msg[DPT_ERR_MSG_MAX];
  bool *present;        /* present[i]: party i arrived in the current generation (for timeouts) */
  bool *gone;           /* gone[i]: party i left for good (dpt_barrier_leave) */
  /* dpt_barrier_on_timeout: instead of aborting, a timed-out wait hands it each missing party. */
  void (*drop)(void *ctx, int party, const char *why);
  void *drop_ctx;
  int first_party;      /* messages name party i as worker first_party + i */
  /* dpt_barrier_busy, under mu: the party busy (or busy last) and with what; busy_total_s adds
   * up every busy period that ended, so a wait subtracts what passed while it waited. */
  bool busy;
  int busy_party;
  const char *busy_doing;
  double busy_since, busy_limit_s, busy_total_s;
} dpt_barrier;

int dpt_barrier_init(dpt_barrier *b, int parties, double timeout_s, dpt_err *err);
void dpt_barrier_destroy(dpt_barrier *b);

/* Timeouts name party i as worker first + i (the parties are workers first.. of a larger run). */
void dpt_barrier_name_from(dpt_barrier *b, int first);

/* Party `party` starts something known to outlast the timeout (`doing`: "saving a checkpoint", a
 * string that outlives the barrier), which it ends with dpt_barrier_idle before it waits again;
 * one party at a time. Meanwhile the others' waits do not time out, and afterwards their
 * deadlines are later by the time it took: the timeout counts only the time nobody was busy.
 * Still bounded: a wait times out once the party has been busy for more than limit_s (<= 0: no
 * bound), naming what it was doing; still woken by an abort. */
void dpt_barrier_busy(dpt_barrier *b, int party, const char *doing, double limit_s);
void dpt_barrier_idle(dpt_barrier *b);

/* Waits until all parties arrive. party is 0..parties-1 (used to name the missing ones on timeout).
 * Returns 0, DPT_ETIMEOUT (and aborts the barrier for everyone) or the abort code. */
int dpt_barrier_wait(dpt_barrier *b, int party, dpt_err *err);

/* Party `party` leaves for good: from now on the others wait only for each other (a wait they
 * are in completes once the rest have arrived). Idempotent. */
void dpt_barrier_leave(dpt_barrier *b, int party);

/* A wait that times out calls drop(ctx, party, why) for each party that has not arrived, with no
 * lock held, instead of aborting; drop must make the party leave (dpt_barrier_leave) or abort the
 * barrier. A wait whose missing parties are still there afterwards aborts as without it. Set
 * before any wait. */
void dpt_barrier_on_timeout(dpt_barrier *b, void (*drop)(void *ctx, int party, const char *why),
                            void *ctx);

/* Wakes every waiter with code/message; later waits fail at once. First abort wins. */
void dpt_barrier_abort(dpt_barrier *b, int code, const char *msg);

#endif
