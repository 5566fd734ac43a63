/* Aborting the local server: the first abort's code and message win (ps/ps_abort_record.h) and
 * every waiter wakes. */
#include <stdarg.h>
#include <stdio.h>

#include "ps/ps_internal.h"

int ps_abort_code(ps_local *ps) { return ps_abort_record_code(&ps->aborted); }

int ps_abort_error(ps_local *ps, dpt_err *err) { return ps_abort_record_error(&ps->aborted, err); }

/* Wakes every waiter. Each lock is taken after the code was published, so a waiter either saw the
 * code before sleeping or is asleep and gets the broadcast. */
static void wake_everyone(ps_local *ps)
{
  for (int i = 0; i < ps->cfg.n_shards; i++) {
    ps_shard *s = &ps->shards[i];
    pthread_mutex_lock(&s->mu);
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
  }
  pthread_mutex_lock(&ps->mu);
  pthread_cond_broadcast(&ps->cv);
  pthread_mutex_unlock(&ps->mu);
}

void ps_local_abort(void *impl, int code, const char *why)
{
  ps_local *ps = impl;
  ps_abort_record_set(&ps->aborted, code, why);
  /* Under MPI the serve threads' waits on messages wake with the channel. */
  ps_mpi_serve_abort(ps->serve, code, why);
  wake_everyone(ps);
}

int ps_fail(ps_local *ps, dpt_err *err, int code, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  int rc = ps_fail_through(ps_local_abort, ps, err, code, fmt, ap);
  va_end(ap);
  return rc;
}
