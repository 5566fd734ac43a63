/* Aborting the server: the first abort's code and message win and every waiter wakes.
 * The record is lock-free so a waiter can read it while holding its shard lock: the first
 * aborter claims it, writes the message, then publishes the code (release); readers load the code
 * (acquire) before the message. */
#include <stdarg.h>
#include <stdio.h>

#include "mpi/mpi_chan.h"
#include "ps/ps_internal.h"

int ps_abort_code(dpt_ps *ps)
{
  return atomic_load_explicit(&ps->abort_code, memory_order_acquire);
}

int ps_abort_error(dpt_ps *ps, dpt_err *err)
{
  int code = ps_abort_code(ps);
  return code ? dpt_err_set(err, code, "%s", ps->abort_msg) : DPT_OK;
}

/* Wakes every waiter. Each lock is taken after the code was published, so a waiter either saw the
 * code before sleeping or is asleep and gets the broadcast. */
static void wake_everyone(dpt_ps *ps)
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

void dpt_ps_abort(dpt_ps *ps, int code, const char *why)
{
  int unclaimed = 0;
  if (atomic_compare_exchange_strong(&ps->abort_claimed, &unclaimed, 1)) {
    snprintf(ps->abort_msg, sizeof ps->abort_msg, "%s", why ? why : "ps: aborted");
    atomic_store_explicit(&ps->abort_code, code ? code : DPT_EABORTED, memory_order_release);
  }
  /* Under MPI the waits on messages wake with the channel; a remote ps has nothing else. */
  if (ps->link) dpt_mpi_chan_abort(ps->link, code, why);
  if (!ps->remote) wake_everyone(ps);
}

int ps_fail(dpt_ps *ps, dpt_err *err, int code, const char *fmt, ...)
{
  char msg[DPT_ERR_MSG_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  dpt_ps_abort(ps, code, msg);
  return dpt_err_set(err, code, "%s", msg);
}
