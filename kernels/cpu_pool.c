/* A CPU device's helper threads (cpu_pool.h). A run publishes its op under the pool's lock with a
 * new generation number; each helper runs its part, counts it done and wakes the caller, who has
 * run part 0 meanwhile. Helpers wait for work without a deadline, woken by the next run or by
 * close; the caller's wait for them has the device's deadline. */
#include "kernels/cpu_pool.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "dpt/timer.h"

enum { POOL_MAX_THREADS = 64 };

typedef struct pool_helper {
  cpu_pool *pool;
  int part; /* 1..threads-1 */
  pthread_t thread;
} pool_helper;

struct cpu_pool {
  pthread_mutex_t mu;
  pthread_cond_t work; /* helpers wait here for a new generation or stop */
  pthread_cond_t done; /* the caller waits here for pending to reach 0 */
  unsigned long generation;
  int pending; /* helpers not done with this generation's part */
  bool stop, stuck;
  int alive; /* helpers not yet returned: after a stuck close, the last one frees the pool */
  cpu_rows_fn fn;
  const void *args;
  int rows;
  int threads, started;
  double wait_s;
  pool_helper helpers[POOL_MAX_THREADS];
};

int cpu_pool_helpers(int threads)
{
  if (threads > POOL_MAX_THREADS) threads = POOL_MAX_THREADS;
  return threads > 1 ? threads - 1 : 0;
}

int cpu_pool_threads(const cpu_pool *p) { return p ? p->threads : 1; }

/* Part k of n parts over rows: balanced, in order. */
static int part_start(int rows, int parts, int k) { return (int)((long)rows * k / parts); }

static void pool_free(cpu_pool *p)
{
  pthread_cond_destroy(&p->work);
  pthread_cond_destroy(&p->done);
  pthread_mutex_destroy(&p->mu);
  free(p);
}

static void *helper_main(void *arg)
{
  pool_helper *h = arg;
  cpu_pool *p = h->pool;
  unsigned long seen = 0;
  pthread_mutex_lock(&p->mu);
  for (;;) {
    while (!p->stop && p->generation == seen) pthread_cond_wait(&p->work, &p->mu);
    if (p->stop) break;
    seen = p->generation;
    cpu_rows_fn fn = p->fn;
    const void *args = p->args;
    int r0 = part_start(p->rows, p->threads, h->part);
    int r1 = part_start(p->rows, p->threads, h->part + 1);
    pthread_mutex_unlock(&p->mu);
    if (r1 > r0) fn(args, r0, r1);
    pthread_mutex_lock(&p->mu);
    if (--p->pending == 0) pthread_cond_signal(&p->done);
  }
  /* Closed while stuck: close detached the helpers and left the pool to the last one out. */
  bool last_out = --p->alive == 0 && p->stuck;
  pthread_mutex_unlock(&p->mu);
  if (last_out) pool_free(p);
  return NULL;
}

int cpu_pool_open(int threads, double wait_s, cpu_pool **out, dpt_err *err)
{
  *out = NULL;
  int helpers = cpu_pool_helpers(threads);
  if (helpers == 0) return DPT_OK;
  cpu_pool *p = calloc(1, sizeof *p);
  if (!p) return dpt_err_set(err, DPT_ENOMEM, "cpu: out of memory for the helper threads");
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->work, NULL);
  dpt_cond_init_monotonic(&p->done);
  p->threads = helpers + 1;
  p->wait_s = wait_s;
  for (int k = 0; k < helpers; k++) {
    p->helpers[k] = (pool_helper){.pool = p, .part = k + 1};
    pthread_mutex_lock(&p->mu); /* a helper may already be counting itself out (none stuck yet) */
    int e = pthread_create(&p->helpers[k].thread, NULL, helper_main, &p->helpers[k]);
    if (!e) {
      p->started++;
      p->alive++;
    }
    pthread_mutex_unlock(&p->mu);
    if (e) {
      cpu_pool_close(p);
      return dpt_err_set(err, DPT_ENOMEM, "cpu: cannot start helper thread %d of %d (error %d)",
                         k + 1, helpers, e);
    }
  }
  *out = p;
  return DPT_OK;
}

/* A stuck helper may still run, so close does not wait for it: the helpers are detached, and
 * the last one to return frees the pool. */
void cpu_pool_close(cpu_pool *p)
{
  if (!p) return;
  pthread_mutex_lock(&p->mu);
  p->stop = true;
  bool stuck = p->stuck;
  pthread_cond_broadcast(&p->work);
  if (stuck) {
    for (int k = 0; k < p->started; k++) pthread_detach(p->helpers[k].thread);
    pthread_mutex_unlock(&p->mu);
    return;
  }
  pthread_mutex_unlock(&p->mu);
  for (int k = 0; k < p->started; k++) pthread_join(p->helpers[k].thread, NULL);
  pool_free(p);
}

int cpu_pool_run(cpu_pool *p, cpu_rows_fn fn, const void *args, int rows, dpt_err *err)
{
  if (!p) {
    fn(args, 0, rows);
    return DPT_OK;
  }
  pthread_mutex_lock(&p->mu);
  if (p->stuck) {
    pthread_mutex_unlock(&p->mu);
    return dpt_err_set(err, DPT_ETIMEOUT, "cpu: a helper thread is stuck in an earlier op");
  }
  p->fn = fn;
  p->args = args;
  p->rows = rows;
  p->pending = p->threads - 1;
  p->generation++;
  pthread_cond_broadcast(&p->work);
  pthread_mutex_unlock(&p->mu);
  int r1 = part_start(rows, p->threads, 1);
  if (r1 > 0) fn(args, 0, r1);
  struct timespec deadline = dpt_deadline_after(p->wait_s);
  int e = 0;
  pthread_mutex_lock(&p->mu);
  while (p->pending > 0 && e != ETIMEDOUT)
    e = p->wait_s > 0 ? pthread_cond_timedwait(&p->done, &p->mu, &deadline)
                      : pthread_cond_wait(&p->done, &p->mu);
  bool late = p->pending > 0;
  p->stuck |= late;
  pthread_mutex_unlock(&p->mu);
  if (!late) return DPT_OK;
  return dpt_err_set(err, DPT_ETIMEOUT, "cpu: a helper thread did not finish its rows within %g s",
                     p->wait_s);
}
