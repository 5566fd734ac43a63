#include "dpt/barrier.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int dpt_barrier_init(dpt_barrier *b, int parties, double timeout_s, dpt_err *err)
{
  memset(b, 0, sizeof *b);
  if (parties < 1) return dpt_err_set(err, DPT_EINTERNAL, "barrier: %d parties", parties);
  b->present = calloc((size_t)parties, sizeof *b->present);
  if (!b->present) return dpt_err_set(err, DPT_ENOMEM, "barrier: out of memory");
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* timeouts immune to wall-clock changes */
  pthread_cond_init(&b->cv, &ca);
  pthread_condattr_destroy(&ca);
  pthread_mutex_init(&b->mu, NULL);
  b->parties = parties;
  b->timeout_s = timeout_s;
  return DPT_OK;
}

void dpt_barrier_destroy(dpt_barrier *b)
{
  if (!b->present) return;
  pthread_mutex_destroy(&b->mu);
  pthread_cond_destroy(&b->cv);
  free(b->present);
  b->present = NULL;
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

/* "barrier: timed out after 5 s waiting for parties 1, 3" */
static void describe_missing(dpt_barrier *b, char *buf, size_t size)
{
  int len = snprintf(buf, size, "timed out after %g s waiting for worker(s)", b->timeout_s);
  const char *sep = " ";
  for (int i = 0; i < b->parties && len > 0 && (size_t)len < size; i++) {
    if (b->present[i]) continue;
    len += snprintf(buf + len, size - (size_t)len, "%s%d", sep, i);
    sep = ", ";
  }
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

int dpt_barrier_wait(dpt_barrier *b, int party, dpt_err *err)
{
  struct timespec deadline;
  clock_gettime(CLOCK_MONOTONIC, &deadline);
  if (b->timeout_s > 0) {
    double whole = (double)(long)b->timeout_s;
    deadline.tv_sec += (time_t)whole;
    deadline.tv_nsec += (long)((b->timeout_s - whole) * 1e9);
    if (deadline.tv_nsec >= 1000000000L) {
      deadline.tv_sec++;
      deadline.tv_nsec -= 1000000000L;
    }
  }
  pthread_mutex_lock(&b->mu);
  if (b->abort_code) goto aborted;
  unsigned long gen = b->generation;
  b->present[party] = true;
  if (++b->arrived == b->parties) {
    b->arrived = 0;
    b->generation++;
    memset(b->present, 0, (size_t)b->parties * sizeof *b->present);
    pthread_cond_broadcast(&b->cv);
    pthread_mutex_unlock(&b->mu);
    return DPT_OK;
  }
  pthread_mutex_unlock(&b->mu);
  spin_until_released(b, gen);
  pthread_mutex_lock(&b->mu);
  while (gen == b->generation && !b->abort_code) {
    int rc = b->timeout_s > 0 ? pthread_cond_timedwait(&b->cv, &b->mu, &deadline)
                              : pthread_cond_wait(&b->cv, &b->mu);
    if (rc == ETIMEDOUT && gen == b->generation && !b->abort_code) {
      char msg[DPT_ERR_MSG_MAX];
      describe_missing(b, msg, sizeof msg);
      abort_locked(b, DPT_ETIMEOUT, msg);
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
