#include "dpt/barrier.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dpt/timer.h"

int dpt_barrier_init(dpt_barrier *b, int parties, double timeout_s, dpt_err *err)
{
  memset(b, 0, sizeof *b);
  if (parties < 1) return dpt_err_set(err, DPT_EINTERNAL, "barrier: %d parties", parties);
  b->present = calloc((size_t)parties, sizeof *b->present);
  b->gone = calloc((size_t)parties, sizeof *b->gone);
  if (!b->present || !b->gone) {
    free(b->present);
    free(b->gone);
    b->present = NULL;
    return dpt_err_set(err, DPT_ENOMEM, "barrier: out of memory");
  }
  dpt_cond_init_monotonic(&b->cv);
  pthread_mutex_init(&b->mu, NULL);
  b->parties = parties;
  b->parties_max = parties;
  b->timeout_s = timeout_s;
  return DPT_OK;
}

void dpt_barrier_destroy(dpt_barrier *b)
{
  if (!b->present) return;
  pthread_mutex_destroy(&b->mu);
  pthread_cond_destroy(&b->cv);
  free(b->present);
  free(b->gone);
  b->present = NULL;
  b->gone = NULL;
}

static void abort_locked(dpt_barrier *b, int code, const char *msg)
{
  if (b->abort_code) return;
  b->abort_code = code;
  snprintf(b->abort_msg, sizeof b->abort_msg, "%s", msg);
  pthread_cond_broadcast(&b->cv);
}

void dpt_barrier_abort(dpt_barrier *b, int code, const char *msg)
{
  pthread_mutex_lock(&b->mu);
  abort_locked(b, code, msg);
  pthread_mutex_unlock(&b->mu);
}

void dpt_barrier_name_from(dpt_barrier *b, int first) { b->first_party = first; }

void dpt_barrier_on_timeout(dpt_barrier *b, void (*drop)(void *ctx, int party, const char *why),
                            void *ctx)
{
  b->drop = drop;
  b->drop_ctx = ctx;
}

/* Everyone present: the next generation starts (under mu). */
static void release_locked(dpt_barrier *b)
{
  b->arrived = 0;
  b->generation++;
  memset(b->present, 0, (size_t)b->parties_max * sizeof *b->present);
  pthread_cond_broadcast(&b->cv);
}

void dpt_barrier_leave(dpt_barrier *b, int party)
{
  pthread_mutex_lock(&b->mu);
  if (!b->gone[party]) {
    b->gone[party] = true;
    b->parties--;
    if (b->present[party]) { /* it leaves from a wait of its own: that wait no longer counts it */
      b->present[party] = false;
      b->arrived--;
    }
    if (b->arrived > 0 && b->arrived == b->parties) release_locked(b);
  }
  pthread_mutex_unlock(&b->mu);
}

void dpt_barrier_busy(dpt_barrier *b, int party, const char *doing, double limit_s)
{
  pthread_mutex_lock(&b->mu);
  b->busy = true;
  b->busy_party = party;
  b->busy_doing = doing;
  b->busy_since = dpt_now();
  b->busy_limit_s = limit_s;
  pthread_mutex_unlock(&b->mu);
}

void dpt_barrier_idle(dpt_barrier *b)
{
  pthread_mutex_lock(&b->mu);
  if (b->busy) b->busy_total_s += dpt_now() - b->busy_since;
  b->busy = false;
  pthread_cond_broadcast(&b->cv); /* the waiters' deadlines moved: they look again */
  pthread_mutex_unlock(&b->mu);
}

/* Seconds some party spent busy up to `now`, since the barrier was made (under mu). */
static double busy_so_far(const dpt_barrier *b, double now)
{
  return b->busy_total_s + (b->busy ? now - b->busy_since : 0);
}

/* "worker(s) 1, 3": the parties that have not arrived (under mu). */
static void describe_missing(const dpt_barrier *b, char *buf, size_t size)
{
  int len = snprintf(buf, size, "worker(s)");
  const char *sep = " ";
  for (int i = 0; i < b->parties_max && len > 0 && (size_t)len < size; i++) {
    if (b->present[i] || b->gone[i]) continue;
    len += snprintf(buf + len, size - (size_t)len, "%s%d", sep, b->first_party + i);
    sep = ", ";
  }
}

/* Whether a wait that started at t0, when busy_so_far was busy0, is out of time at `now` (its
 * message in msg); if not, *wake is when to look again (0: only when woken). Under mu. */
static bool out_of_time(const dpt_barrier *b, double t0, double busy0, double now, double *wake,
                        char *msg, size_t size)
{
  char missing[DPT_ERR_MSG_MAX / 2];
  if (b->busy) {
    *wake = b->busy_limit_s > 0 ? b->busy_since + b->busy_limit_s : 0;
    if (!*wake || now < *wake) return false;
    describe_missing(b, missing, sizeof missing);
    snprintf(msg, size, "timed out waiting for %s: worker %d has been %s for more than %g s",
             missing, b->first_party + b->busy_party, b->busy_doing, b->busy_limit_s);
    return true;
  }
  double excused = busy_so_far(b, now) - busy0;
  *wake = b->timeout_s > 0 ? t0 + b->timeout_s + excused : 0;
  if (!*wake || now < *wake) return false;
  describe_missing(b, missing, sizeof missing);
  int len = snprintf(msg, size, "timed out after %g s waiting for %s", b->timeout_s, missing);
  if (excused > 0 && len > 0 && (size_t)len < size)
    snprintf(msg + len, size - (size_t)len, " (not counting the %.3g s worker %d spent %s)",
             excused, b->first_party + b->busy_party, b->busy_doing);
  return true;
}

static struct timespec monotonic_at(double t)
{
  struct timespec ts = {.tv_sec = (time_t)t};
  ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
  if (ts.tv_nsec >= 1000000000L) ts.tv_nsec = 999999999L;
  return ts;
}

/* Waiting a little before sleeping: a futex wake-up costs tens of microseconds on a virtual
 * machine, longer than a phase of an in-process collective usually takes. Yielding, not busy
 * spinning, keeps a machine with more workers than cores fair. */
enum { SPIN_YIELDS = 100 };

static void spin_until_released(dpt_barrier *b, unsigned long gen)
{
  for (int i = 0; i < SPIN_YIELDS; i++) {
    if (atomic_load_explicit(&b->generation, memory_order_acquire) != gen ||
        atomic_load_explicit(&b->abort_code, memory_order_relaxed))
      return;
    sched_yield();
  }
}

/* A timed-out wait of generation gen: hands the missing parties to the drop hook (with mu
 * released around the calls). False when one of them is still missing afterwards: the wait then
 * aborts. Under mu. */
static bool drop_missing(dpt_barrier *b, unsigned long gen, const char *why)
{
  bool *missing = calloc((size_t)b->parties_max, sizeof *missing);
  if (!missing) return false;
  for (int i = 0; i < b->parties_max; i++) missing[i] = !b->present[i] && !b->gone[i];
  pthread_mutex_unlock(&b->mu);
  for (int i = 0; i < b->parties_max; i++)
    if (missing[i]) b->drop(b->drop_ctx, i, why);
  pthread_mutex_lock(&b->mu);
  bool all_gone = true;
  for (int i = 0; i < b->parties_max && gen == b->generation; i++)
    all_gone &= !missing[i] || b->gone[i];
  free(missing);
  return all_gone || gen != b->generation;
}

int dpt_barrier_wait(dpt_barrier *b, int party, dpt_err *err)
{
  double t0 = dpt_now(); /* CLOCK_MONOTONIC, the condition variable's clock */
  pthread_mutex_lock(&b->mu);
  if (b->abort_code) goto aborted;
  unsigned long gen = b->generation;
  double busy0 = busy_so_far(b, t0);
  b->present[party] = true;
  if (++b->arrived == b->parties) {
    release_locked(b);
    pthread_mutex_unlock(&b->mu);
    return DPT_OK;
  }
  pthread_mutex_unlock(&b->mu);
  spin_until_released(b, gen);
  pthread_mutex_lock(&b->mu);
  while (gen == b->generation && !b->abort_code) {
    char msg[DPT_ERR_MSG_MAX];
    double wake;
    if (out_of_time(b, t0, busy0, dpt_now(), &wake, msg, sizeof msg)) {
      if (b->drop && drop_missing(b, gen, msg)) continue;
      abort_locked(b, DPT_ETIMEOUT, msg);
      break;
    }
    if (wake > 0) {
      struct timespec at = monotonic_at(wake);
      pthread_cond_timedwait(&b->cv, &b->mu, &at);
    } else {
      pthread_cond_wait(&b->cv, &b->mu);
    }
  }
  if (gen != b->generation) {
    pthread_mutex_unlock(&b->mu);
    return DPT_OK;
  }
aborted:;
  int code = b->abort_code;
  dpt_err_set(err, code, "%s", b->abort_msg);
  pthread_mutex_unlock(&b->mu);
  return code;
}
