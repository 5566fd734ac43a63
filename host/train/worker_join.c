#include "host/train/worker_join.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "dpt/timer.h"

/* How often the joining thread looks at the workers and the run's error. */
#define JOIN_POLL_S 0.02

static void *worker_main(void *p)
{
  dpt_worker_thread *t = p;
  dpt_worker_run(t->run, t->w);
  atomic_store(&t->returned, true);
  return NULL;
}

int dpt_worker_threads_start(dpt_run *run, dpt_worker_thread *threads)
{
  int started = 0;
  for (; started < run->workers; started++) {
    dpt_worker_thread *t = &threads[started];
    t->run = run;
    t->w = started;
    atomic_init(&t->returned, false);
    int why = pthread_create(&t->thread, NULL, worker_main, t);
    if (why != 0) {
      dpt_err e = {0};
      dpt_err_set(&e, why == EAGAIN ? DPT_ENOMEM : DPT_EINTERNAL,
                  "trainer: cannot start worker thread %d: %s", started, strerror(why));
      dpt_run_fail(run, started, &e);
      break;
    }
  }
  return started;
}

/* The first worker still running, or -1. */
static int first_running(dpt_worker_thread *threads, int started)
{
  for (int w = 0; w < started; w++)
    if (!atomic_load(&threads[w].returned)) return w;
  return -1;
}

static bool run_failed(dpt_run *run, dpt_err *copy)
{
  pthread_mutex_lock(&run->err_mu);
  *copy = run->err;
  pthread_mutex_unlock(&run->err_mu);
  return copy->code != DPT_OK;
}

void dpt_worker_threads_join(dpt_run *run, dpt_worker_thread *threads, int started)
{
  double timeout = run->cfg->timeout_s, failed_at = 0;
  bool watch = timeout > 0 && run->obs && run->obs->on_stuck;
  int stuck;
  while (watch && (stuck = first_running(threads, started)) >= 0) {
    dpt_err first;
    if (run_failed(run, &first)) {
      if (failed_at == 0) failed_at = dpt_now();
      double waited = dpt_now() - failed_at;
      if (waited > timeout + DPT_STUCK_GRACE_S) {
        dpt_err why = {0};
        dpt_err_set(&why, first.code,
                    "%s; worker %d did not return within %.0f s of that failure (stuck in a "
                    "device call): the process ends without it",
                    first.msg, run->first_worker + stuck, waited);
        run->obs->on_stuck(run->obs->ctx, &why);
        break; /* on_stuck returned: wait as without it */
      }
    }
    dpt_sleep(JOIN_POLL_S);
  }
  for (int w = 0; w < started; w++) pthread_join(threads[w].thread, NULL);
}
