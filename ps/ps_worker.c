/* The worker's side of a synchronous round on the local server: push copies the gradient into
 * the worker's slot of every shard and counts it with its votes; pull waits for each shard's next
 * version and copies it out. Why the copies need no lock: see ps_internal.h. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "dpt/timer.h"
#include "ps/ps_internal.h"

/* rc from a failed check (ps/ps_rounds.h), described in why: a broken contract aborts the server. */
static int refuse(ps_local *ps, int rc, const dpt_err *why, dpt_err *err)
{
  return ps_fail(ps, err, rc, "%s", why->msg);
}

int ps_local_push(void *impl, int worker, const float *grads, float lr, dpt_votes votes,
                  const dpt_ps_pipe *pipe, dpt_err *err)
{
  ps_local *ps = impl;
  dpt_err why = {0};
  int rc = ps_check_worker(worker, ps->cfg.n_workers, "push", &why);
  if (rc) return refuse(ps, rc, &why, err);
  if ((rc = ps_abort_error(ps, err))) return rc;
  ps_worker *w = &ps->workers[worker];
  if ((rc = ps_check_push(w, worker, &why))) return refuse(ps, rc, &why, err);
  for (int i = 0; i < ps->cfg.n_shards; i++) {
    ps_shard *s = &ps->shards[i];
    /* The shards before it are counted: the round cannot complete without this one. */
    if (pipe && (rc = pipe->ready(pipe->ctx, s->off, s->len, &why)))
      return ps_fail(ps, err, rc, "ps: worker %d, shard %d: %s", worker, i, why.msg);
    memcpy(s->slots + (size_t)worker * s->stride, grads + s->off, s->len * sizeof *grads);
    pthread_mutex_lock(&s->mu);
    float round_lr = s->arrived ? s->lr : lr;
    s->lr = round_lr;
    s->pushed[worker] = true;
    s->votes.skip += votes.skip;
    s->votes.stop += votes.stop;
    bool complete = ++s->arrived == ps->cfg.n_workers;
    pthread_mutex_unlock(&s->mu);
    /* Compared as bits, so that a NaN lr does not differ from itself. */
    if (memcmp(&round_lr, &lr, sizeof lr) != 0)
      return ps_fail(ps, err, DPT_EINTERNAL,
                     "ps: round %" PRIu64 ", shard %d: worker %d pushed lr %g, earlier ones %g",
                     w->pushed, i, worker, (double)lr, (double)round_lr);
    if (complete) ps_server_enqueue(ps, s);
  }
  w->pushed++;
  return DPT_OK;
}

/* "worker(s) 2, 5": who has not pushed the shard's round; "the server" when everyone has. */
static void describe_missing(const ps_local *ps, const ps_shard *s, char *buf, size_t size)
{
  if (s->arrived == ps->cfg.n_workers) {
    snprintf(buf, size, "the server");
    return;
  }
  size_t len = (size_t)snprintf(buf, size, "worker(s)");
  const char *sep = " ";
  for (int w = 0; w < ps->cfg.n_workers && len < size; w++) {
    if (s->pushed[w]) continue;
    len += (size_t)snprintf(buf + len, size - len, "%s%d", sep, w);
    sep = ", ";
  }
}

/* Waits until shard s reaches version target (adding the time blocked to *waited). */
static int wait_for_version(ps_local *ps, ps_shard *s, uint64_t target,
                            const struct timespec *deadline, double *waited, dpt_err *err)
{
  char missing[DPT_ERR_MSG_MAX / 2];
  bool timed_out = false;
  pthread_mutex_lock(&s->mu);
  if (s->version < target && !ps_abort_code(ps)) {
    double t0 = dpt_now();
    while (s->version < target && !ps_abort_code(ps) && !timed_out) {
      int rc = ps->cfg.timeout_s > 0 ? pthread_cond_timedwait(&s->cv, &s->mu, deadline)
                                     : pthread_cond_wait(&s->cv, &s->mu);
      timed_out = rc == ETIMEDOUT && s->version < target;
    }
    if (timed_out) describe_missing(ps, s, missing, sizeof missing);
    *waited += dpt_now() - t0;
  }
  pthread_mutex_unlock(&s->mu);
  if (timed_out)
    return ps_fail(ps, err, DPT_ETIMEOUT,
                   "ps: round %" PRIu64 ", shard %d: timed out after %g s waiting for %s",
                   target - 1, s->index, ps->cfg.timeout_s, missing);
  return ps_abort_error(ps, err);
}

int ps_local_pull(void *impl, int worker, float *params, dpt_ps_round *round,
                  const dpt_ps_pipe *pipe, dpt_err *err)
{
  ps_local *ps = impl;
  dpt_err why = {0};
  int rc = ps_check_worker(worker, ps->cfg.n_workers, "pull", &why);
  if (rc) return refuse(ps, rc, &why, err);
  ps_worker *w = &ps->workers[worker];
  struct timespec deadline = dpt_deadline_after(ps->cfg.timeout_s);
  double waited = 0;
  for (int i = 0; i < ps->cfg.n_shards; i++) {
    ps_shard *s = &ps->shards[i];
    rc = wait_for_version(ps, s, w->pushed, &deadline, &waited, err);
    if (rc) return rc;
    memcpy(params + s->off, ps->params + s->off, s->len * sizeof *params);
    if (pipe && (rc = pipe->arrived(pipe->ctx, s->off, s->len, err))) return rc;
  }
  /* Every shard counted the same votes, and shard 0's stay put until this worker pushes again. */
  pthread_mutex_lock(&ps->shards[0].mu);
  round->votes = ps->shards[0].last_votes;
  pthread_mutex_unlock(&ps->shards[0].mu);
  round->wait_s = waited;
  w->pulled = w->pushed;
  return DPT_OK;
}
