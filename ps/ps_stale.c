/* The stale server (ps/ps_ops.h, docs/ps.md "Consistency models"): with staleness S >= 1 there are
 * no rounds. Each push is applied alone as it arrives, by the thread that delivers it, shard by
 * shard under each shard's lock, as one SGD step on that worker's share of the global batch. A
 * worker's clock counts its pushes applied; its pull waits until every worker's clock is at least
 * its own minus S (never, for DPT_PS_STALENESS_INF), then copies each shard under its lock.
 *
 * What a pull guarantees: worker w with clock c (its next push is its (c+1)-th) gets parameters
 * that hold every worker's first c - S pushes and all c of its own, each in full on every shard.
 * The order in which pushes of different workers reach a shard is their arrival order: runs with
 * N > 1 workers are not bit-reproducible, but every push is applied exactly once.
 *
 * A worker can be dropped (dpt_ps_drop, --on-worker-failure continue): its clock no longer holds
 * anyone back and its later calls fail. A push marks itself in flight under the clock lock before
 * it touches a shard, and a drop waits for that push to end: so each push is either applied whole
 * and counted in the dropped worker's final clock, or refused.
 *
 * A checkpoint reads a consistent cut (stale_read_cut): it holds new pushes off, waits for the
 * pushes in flight to be applied whole, then copies the parameters, the velocity and the clocks.
 *
 * Under MPI it lives on process 0 and its workers are every process's (ps/ps_mpi.h): a serve
 * thread per remote worker calls push, pull and read_params for it, exactly as a local worker's
 * thread does.
 *
 * Locks: each shard's mu, and the clock lock; no thread holds two of them. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dpt/cache_lines.h"
#include "dpt/timer.h"
#include "kernels/kn_math.h"
#include "ps/ps_abort_record.h"
#include "ps/ps_mpi.h"
#include "ps/ps_ops.h"
#include "ps/ps_rounds.h"

enum { MAX_LATE = 4096 }; /* workers a timed-out pull hands over at once: --workers' bound */

typedef struct stale_shard {
  alignas(DPT_CACHE_LINE) pthread_mutex_t mu; /* guards the shard's params and velocity */
  size_t off, len;
} stale_shard;

/* The SGD step one push takes (see push_step). */
typedef struct push_step {
  float lr_scale, momentum, weight_decay;
} push_step;

typedef struct ps_stale {
  dpt_ps_config cfg;
  push_step step;
  float *params, *velocity;
  stale_shard *shards;
  ps_worker *workers; /* each touched by its worker's thread only */
  bool *own_dropped;  /* own_dropped[w]: w's last push was a skip, dropped (w's thread only) */

  pthread_mutex_t mu; /* the clock lock: guards the fields below */
  pthread_cond_t cv;  /* pulls wait here for the slowest worker's clock */
  uint64_t *clocks;   /* pushes of each worker applied (or dropped) */
  bool *in_flight;    /* in_flight[w]: worker w's push is being applied */
  bool *dropped;      /* dropped[w]: worker w left the run (dpt_ps_drop) */
  int n_dropped;
  bool cutting;       /* a cut is being read: no push begins (stale_read_cut) */
  uint64_t pushes_applied, pushes_dropped, max_staleness;
  bool stop_voted;    /* some push voted to stop: every later pull says so */
  double busy_s;

  ps_abort_record aborted;
  ps_mpi_serve *serve; /* under MPI: the other processes' workers (ps/ps_mpi.h); NULL otherwise */
} ps_stale;

/* One push is a step on one worker's share of the global batch: N of them (one per worker) add up
 * to the synchronous step on the whole batch. The gradient shares already sum to the batch's mean
 * gradient; weight decay is split N ways; momentum decays by momentum^(1/N) per push, so by
 * `momentum` per N pushes; and the rate is scaled so that, for a constant gradient, the parameters
 * move as far per N pushes as per synchronous step: lr (1 - m^(1/N)) / (1 - m). With one worker
 * each push is exactly the synchronous step. */
static push_step push_step_for(const dpt_ps_config *c)
{
  if (c->n_workers == 1 || c->momentum == 0.f)
    return (push_step){.lr_scale = 1.f, .momentum = c->momentum,
                       .weight_decay = c->n_workers == 1 ? c->weight_decay
                                                          : c->weight_decay / (float)c->n_workers};
  double per_push = pow((double)c->momentum, 1.0 / c->n_workers);
  return (push_step){.lr_scale = (float)((1.0 - per_push) / (1.0 - (double)c->momentum)),
                     .momentum = (float)per_push,
                     .weight_decay = c->weight_decay / (float)c->n_workers};
}

static int stale_fail(ps_stale *ps, dpt_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void stale_abort(void *impl, int code, const char *why)
{
  ps_stale *ps = impl;
  ps_abort_record_set(&ps->aborted, code, why);
  ps_mpi_serve_abort(ps->serve, code, why); /* the serve threads' waits on messages */
  pthread_mutex_lock(&ps->mu); /* after the code: a waiter saw it or gets the broadcast */
  pthread_cond_broadcast(&ps->cv);
  pthread_mutex_unlock(&ps->mu);
}

static int stale_fail(ps_stale *ps, dpt_err *err, int code, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  int rc = ps_fail_through(stale_abort, ps, err, code, fmt, ap);
  va_end(ap);
  return rc;
}

/* The push's SGD step on shard s, under its lock; the span it took is returned in t0, t1. */
static void apply_to_shard(ps_stale *ps, stale_shard *s, const float *grads, float lr,
                           double *t0, double *t1)
{
  const push_step *k = &ps->step;
  float rate = lr * k->lr_scale;
  pthread_mutex_lock(&s->mu);
  *t0 = dpt_now();
  for (size_t i = s->off; i < s->off + s->len; i++)
    kn_sgd_step_at(i, ps->params, grads, ps->velocity, rate, k->momentum, k->weight_decay);
  *t1 = dpt_now();
  pthread_mutex_unlock(&s->mu);
}

static int refuse_dropped(int worker, const char *op, dpt_err *err)
{
  return dpt_err_set(err, DPT_EABORTED, "ps: worker %d: %s after it was dropped from the run",
                     worker, op);
}

static bool is_cutting(const ps_stale *ps) { return ps->cutting; }

static bool any_in_flight(const ps_stale *ps)
{
  for (int w = 0; w < ps->cfg.n_workers; w++)
    if (ps->in_flight[w]) return true;
  return false;
}

/* Under the clock lock: waits while busy(ps) holds, at most the timeout; an abort ends it too. */
static int wait_while(ps_stale *ps, bool (*busy)(const ps_stale *), const char *what,
                      dpt_err *err)
{
  struct timespec deadline = dpt_deadline_after(ps->cfg.timeout_s);
  int rc = 0;
  while (busy(ps) && !ps_abort_record_code(&ps->aborted) && rc != ETIMEDOUT)
    rc = ps->cfg.timeout_s > 0 ? pthread_cond_timedwait(&ps->cv, &ps->mu, &deadline)
                               : pthread_cond_wait(&ps->cv, &ps->mu);
  if (ps_abort_record_code(&ps->aborted)) return ps_abort_record_error(&ps->aborted, err);
  if (!busy(ps)) return DPT_OK;
  return dpt_err_set(err, DPT_ETIMEOUT, "ps: timed out after %g s waiting for %s",
                     ps->cfg.timeout_s, what);
}

/* Marks worker's push in flight, unless it was dropped; waits for a cut being read to end. */
static int begin_push(ps_stale *ps, int worker, dpt_err *err)
{
  pthread_mutex_lock(&ps->mu);
  int rc = wait_while(ps, is_cutting, "a checkpoint's cut of the server's state", err);
  bool gone = ps->dropped[worker];
  ps->in_flight[worker] = !gone && !rc;
  pthread_mutex_unlock(&ps->mu);
  if (rc) return rc;
  return gone ? refuse_dropped(worker, "push", err) : DPT_OK;
}

/* Counts worker's pushes dropped in a row; true once they reach cfg.stop_after_dropped. */
static bool diverged(ps_stale *ps, int worker, bool dropped)
{
  uint64_t *in_a_row = &ps->workers[worker].dropped_in_a_row;
  *in_a_row = dropped ? *in_a_row + 1 : 0;
  return ps->cfg.stop_after_dropped > 0 && *in_a_row >= (uint64_t)ps->cfg.stop_after_dropped;
}

/* A push that could not read its gradient (its pipe failed) after some shards took theirs: the
 * parameters hold part of it, so the server aborts. */
static int end_push_failed(ps_stale *ps, int worker, int rc, const dpt_err *why, dpt_err *err)
{
  pthread_mutex_lock(&ps->mu);
  ps->in_flight[worker] = false;
  pthread_cond_broadcast(&ps->cv);
  pthread_mutex_unlock(&ps->mu);
  return stale_fail(ps, err, rc, "ps: worker %d: %s", worker, why->msg);
}

static int stale_push(void *impl, int worker, const float *grads, float lr, dpt_votes votes,
                      const dpt_ps_pipe *pipe, dpt_err *err)
{
  ps_stale *ps = impl;
  dpt_err why = {0};
  int rc = ps_check_worker(worker, ps->cfg.n_workers, "push", &why);
  if (!rc) rc = ps_check_push(&ps->workers[worker], worker, &why);
  if (rc) return stale_fail(ps, err, rc, "%s", why.msg);
  if ((rc = ps_abort_record_error(&ps->aborted, err))) return rc;
  if ((rc = begin_push(ps, worker, err))) return rc;
  bool dropped = kn_step_skipped((float)votes.skip);
  double busy = 0;
  uint64_t index = ps->workers[worker].pushed;
  for (int i = 0; i < ps->cfg.n_shards && !dropped; i++) {
    double t0, t1;
    stale_shard *sh = &ps->shards[i];
    if (pipe && (rc = pipe->ready(pipe->ctx, sh->off, sh->len, &why)))
      return end_push_failed(ps, worker, rc, &why, err);
    apply_to_shard(ps, sh, grads, lr, &t0, &t1);
    busy += t1 - t0;
    /* The hook's calls come one at a time: under the clock lock, which no shard lock is held with. */
    if (ps->cfg.on_apply) {
      pthread_mutex_lock(&ps->mu);
      ps->cfg.on_apply(ps->cfg.on_apply_ctx, i, index, worker, t0, t1);
      pthread_mutex_unlock(&ps->mu);
    }
  }
  pthread_mutex_lock(&ps->mu);
  ps->clocks[worker]++;
  ps->pushes_applied += !dropped;
  ps->pushes_dropped += dropped;
  ps->stop_voted |= votes.stop > 0 || diverged(ps, worker, dropped);
  ps->busy_s += busy;
  ps->in_flight[worker] = false;
  pthread_cond_broadcast(&ps->cv);
  pthread_mutex_unlock(&ps->mu);
  ps->workers[worker].pushed++;
  ps->own_dropped[worker] = dropped;
  return DPT_OK;
}

/* The smallest clock of the workers still in the run (with none, the largest of all); under the
 * clock lock. */
static uint64_t slowest_clock(const ps_stale *ps)
{
  uint64_t min = UINT64_MAX, max = 0;
  for (int w = 0; w < ps->cfg.n_workers; w++) {
    if (ps->clocks[w] > max) max = ps->clocks[w];
    if (!ps->dropped[w] && ps->clocks[w] < min) min = ps->clocks[w];
  }
  return min == UINT64_MAX ? max : min;
}

/* Whether a worker still in the run is below clock `need`; under the clock lock. */
static bool someone_behind(const ps_stale *ps, uint64_t need)
{
  return slowest_clock(ps) < need;
}

/* "worker(s) 2 (clock 7), 5 (clock 6)": who is below clock `need`; under the clock lock. */
static void describe_behind(const ps_stale *ps, uint64_t need, char *buf, size_t size)
{
  size_t len = (size_t)snprintf(buf, size, "worker(s)");
  const char *sep = " ";
  for (int w = 0; w < ps->cfg.n_workers && len < size; w++) {
    if (ps->clocks[w] >= need || ps->dropped[w]) continue;
    len += (size_t)snprintf(buf + len, size - len, "%s%d (clock %" PRIu64 ")", sep, w,
                            ps->clocks[w]);
    sep = ", ";
  }
}

/* A pull at `clock` timed out waiting for the workers below `need` (described in behind): each is
 * handed to the on_late hook, with the clock lock released around the calls. True when none of
 * them is still in the run afterwards: the pull waits on. Under the clock lock. */
static bool hand_over_the_late(ps_stale *ps, uint64_t need, uint64_t clock, const char *behind)
{
  if (!ps->cfg.on_late) return false;
  int n = ps->cfg.n_workers, late[MAX_LATE], n_late = 0;
  for (int w = 0; w < n && n_late < MAX_LATE; w++)
    if (!ps->dropped[w] && ps->clocks[w] < need) late[n_late++] = w;
  char why[DPT_ERR_MSG_MAX];
  snprintf(why, sizeof why,
           "ps: a worker at clock %" PRIu64 " timed out after %g s waiting for %s to reach clock "
           "%" PRIu64 " (--staleness %d)",
           clock, ps->cfg.timeout_s, behind, need, ps->cfg.staleness);
  pthread_mutex_unlock(&ps->mu);
  for (int i = 0; i < n_late; i++) ps->cfg.on_late(ps->cfg.on_late_ctx, late[i], why);
  pthread_mutex_lock(&ps->mu);
  return !someone_behind(ps, need);
}

/* Waits until every worker's clock is at least `need`, then records the staleness the pull sees
 * (clock - the slowest's). A stop vote ends the wait too: the workers stop at their next pull, so
 * the slowest may never reach `need`; such a pull trains nothing further and is left out of
 * max_staleness. */
static int wait_for_slowest(ps_stale *ps, uint64_t clock, uint64_t need, dpt_ps_round *round,
                            dpt_err *err)
{
  struct timespec deadline = dpt_deadline_after(ps->cfg.timeout_s);
  char behind[DPT_ERR_MSG_MAX / 2];
  bool timed_out = false;
  double t0 = dpt_now();
  pthread_mutex_lock(&ps->mu);
  while (someone_behind(ps, need) && !ps->stop_voted && !ps_abort_record_code(&ps->aborted) &&
         !timed_out) {
    int rc = ps->cfg.timeout_s > 0 ? pthread_cond_timedwait(&ps->cv, &ps->mu, &deadline)
                                   : pthread_cond_wait(&ps->cv, &ps->mu);
    timed_out = rc == ETIMEDOUT && someone_behind(ps, need) && !ps->stop_voted;
    if (timed_out) {
      describe_behind(ps, need, behind, sizeof behind);
      timed_out = !hand_over_the_late(ps, need, clock, behind);
    }
  }
  uint64_t staleness = clock - slowest_clock(ps);
  bool bounded = slowest_clock(ps) >= need;
  if (bounded && staleness > ps->max_staleness) ps->max_staleness = staleness;
  round->staleness = staleness;
  round->votes = (dpt_votes){.stop = ps->stop_voted};
  pthread_mutex_unlock(&ps->mu);
  round->wait_s = dpt_now() - t0;
  if (timed_out)
    return stale_fail(ps, err, DPT_ETIMEOUT,
                      "ps: worker at clock %" PRIu64 " timed out after %g s waiting for %s to "
                      "reach clock %" PRIu64 " (--staleness %d)",
                      clock, ps->cfg.timeout_s, behind, need, ps->cfg.staleness);
  return ps_abort_record_error(&ps->aborted, err);
}

/* Each shard whole, under its lock; pipe (NULL: none) hears of each as it lands. */
static int copy_shards(ps_stale *ps, float *out, const dpt_ps_pipe *pipe, dpt_err *err)
{
  for (int i = 0; i < ps->cfg.n_shards; i++) {
    stale_shard *s = &ps->shards[i];
    pthread_mutex_lock(&s->mu);
    memcpy(out + s->off, ps->params + s->off, s->len * sizeof *out);
    pthread_mutex_unlock(&s->mu);
    int rc = pipe ? pipe->arrived(pipe->ctx, s->off, s->len, err) : DPT_OK;
    if (rc) return rc;
  }
  return DPT_OK;
}

static int stale_pull(void *impl, int worker, float *params, dpt_ps_round *round,
                      const dpt_ps_pipe *pipe, dpt_err *err)
{
  ps_stale *ps = impl;
  dpt_err why = {0};
  int rc = ps_check_worker(worker, ps->cfg.n_workers, "pull", &why);
  if (rc) return stale_fail(ps, err, rc, "%s", why.msg);
  pthread_mutex_lock(&ps->mu);
  bool gone = ps->dropped[worker];
  pthread_mutex_unlock(&ps->mu);
  if (gone) return refuse_dropped(worker, "pull", err);
  ps_worker *w = &ps->workers[worker];
  uint64_t clock = w->pushed, s = (uint64_t)ps->cfg.staleness;
  uint64_t need = ps->cfg.staleness == DPT_PS_STALENESS_INF || clock <= s ? 0 : clock - s;
  rc = wait_for_slowest(ps, clock, need, round, err);
  if (rc) return rc;
  /* No round sums the skip votes: a worker hears of its own push dropped (its step skipped). */
  round->votes.skip = ps->own_dropped[worker];
  w->pulled = w->pushed;
  return copy_shards(ps, params, pipe, err);
}

static int stale_drop(void *impl, int worker, uint64_t *pushes, dpt_err *err)
{
  ps_stale *ps = impl;
  dpt_err why = {0};
  int rc = ps_check_worker(worker, ps->cfg.n_workers, "drop", &why);
  if (rc) return stale_fail(ps, err, rc, "%s", why.msg);
  pthread_mutex_lock(&ps->mu);
  /* A push in flight takes a few milliseconds; an abort ends the wait too. */
  while (ps->in_flight[worker] && !ps_abort_record_code(&ps->aborted))
    pthread_cond_wait(&ps->cv, &ps->mu);
  if (!ps->dropped[worker]) {
    ps->dropped[worker] = true;
    ps->n_dropped++;
  }
  *pushes = ps->clocks[worker];
  pthread_cond_broadcast(&ps->cv);
  pthread_mutex_unlock(&ps->mu);
  return ps_abort_record_error(&ps->aborted, err);
}

static void stale_get_stats(void *impl, dpt_ps_stats *out)
{
  ps_stale *ps = impl;
  pthread_mutex_lock(&ps->mu);
  *out = (dpt_ps_stats){.rounds = slowest_clock(ps), .server_busy_s = ps->busy_s,
                        .pushes_applied = ps->pushes_applied,
                        .pushes_dropped = ps->pushes_dropped,
                        .max_staleness = ps->max_staleness,
                        .workers_dropped = ps->n_dropped};
  pthread_mutex_unlock(&ps->mu);
}

static int stale_read_velocity(void *impl, float *out, dpt_err *err)
{
  return dpt_err_set(err, DPT_EINTERNAL,
                     "ps: with staleness the optimizer state changes with every push: a "
                     "checkpoint reads it in a cut (dpt_ps_read_cut)");
}

/* A consistent cut: no push begins meanwhile, and every push in flight is applied whole first. */
static int stale_read_cut(void *impl, float *params, float *velocity, uint64_t *clocks,
                          dpt_err *err)
{
  ps_stale *ps = impl;
  pthread_mutex_lock(&ps->mu);
  int rc = wait_while(ps, is_cutting, "another cut of the server's state", err);
  if (!rc) {
    ps->cutting = true;
    rc = wait_while(ps, any_in_flight, "the pushes in flight to be applied (a checkpoint's cut)",
                    err);
  }
  pthread_mutex_unlock(&ps->mu);
  for (int i = 0; i < ps->cfg.n_shards && !rc; i++) {
    stale_shard *s = &ps->shards[i];
    size_t bytes = s->len * sizeof *params;
    pthread_mutex_lock(&s->mu);
    memcpy(params + s->off, ps->params + s->off, bytes);
    memcpy(velocity + s->off, ps->velocity + s->off, bytes);
    pthread_mutex_unlock(&s->mu);
  }
  pthread_mutex_lock(&ps->mu);
  if (!rc) memcpy(clocks, ps->clocks, (size_t)ps->cfg.n_workers * sizeof *clocks);
  ps->cutting = false;
  pthread_cond_broadcast(&ps->cv);
  pthread_mutex_unlock(&ps->mu);
  return rc;
}

static int stale_read_params(void *impl, int worker, float *out, dpt_err *err)
{
  return copy_shards(impl, out, NULL, err);
}

static void free_stale(ps_stale *ps)
{
  free(ps->params);
  free(ps->velocity);
  free(ps->shards);
  free(ps->workers);
  free(ps->clocks);
  free(ps->in_flight);
  free(ps->dropped);
  free(ps->own_dropped);
  free(ps);
}

static void stale_destroy(void *impl)
{
  ps_stale *ps = impl;
  ps_mpi_serve_stop(ps->serve); /* first: its threads may be waiting in the server */
  for (int i = 0; i < ps->cfg.n_shards; i++) pthread_mutex_destroy(&ps->shards[i].mu);
  pthread_mutex_destroy(&ps->mu);
  pthread_cond_destroy(&ps->cv);
  free_stale(ps);
}

static const ps_ops stale_ops = {
    .push = stale_push,
    .pull = stale_pull,
    .abort = stale_abort,
    .get_stats = stale_get_stats,
    .read_velocity = stale_read_velocity,
    .read_params = stale_read_params,
    .read_cut = stale_read_cut,
    .drop = stale_drop,
    .destroy = stale_destroy,
};

int ps_stale_create(const dpt_ps_config *cfg, int local_workers, const float *init_params,
                    const ps_ops **ops, void **impl, dpt_err *err)
{
  ps_stale *ps = calloc(1, sizeof *ps);
  size_t n = cfg->n_params, workers = (size_t)cfg->n_workers;
  if (ps) {
    ps->params = malloc(n * sizeof *ps->params);
    ps->velocity = calloc(n, sizeof *ps->velocity);
    ps->shards = dpt_cache_aligned_alloc((size_t)cfg->n_shards * sizeof *ps->shards);
    ps->workers = dpt_cache_aligned_alloc(workers * sizeof *ps->workers);
    ps->clocks = calloc(workers, sizeof *ps->clocks);
    ps->in_flight = calloc(workers, sizeof *ps->in_flight);
    ps->dropped = calloc(workers, sizeof *ps->dropped);
    ps->own_dropped = calloc(workers, sizeof *ps->own_dropped);
  }
  if (!ps || !ps->params || !ps->velocity || !ps->shards || !ps->workers || !ps->clocks ||
      !ps->in_flight || !ps->dropped || !ps->own_dropped) {
    if (ps) free_stale(ps);
    return dpt_err_set(err, DPT_ENOMEM, "ps: out of memory for %zu parameters", n);
  }
  ps->cfg = *cfg;
  ps->step = push_step_for(cfg);
  memcpy(ps->params, init_params, n * sizeof *ps->params);
  if (cfg->init_velocity) memcpy(ps->velocity, cfg->init_velocity, n * sizeof *ps->velocity);
  memset(ps->workers, 0, workers * sizeof *ps->workers);
  for (int i = 0; i < cfg->n_shards; i++) {
    stale_shard *s = &ps->shards[i];
    s->off = dpt_ps_shard_start(n, cfg->n_shards, i);
    s->len = dpt_ps_shard_start(n, cfg->n_shards, i + 1) - s->off;
    pthread_mutex_init(&s->mu, NULL);
  }
  pthread_mutex_init(&ps->mu, NULL);
  dpt_cond_init_monotonic(&ps->cv);
  ps_abort_record_init(&ps->aborted);
  int rc = cfg->procs > 1
               ? ps_mpi_serve_start(&stale_ops, ps, cfg, local_workers, &ps->serve, err)
               : DPT_OK;
  if (rc) {
    stale_destroy(ps);
    return rc;
  }
  *ops = &stale_ops;
  *impl = ps;
  return DPT_OK;
}
