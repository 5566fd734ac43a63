#include "host/train/step_guard.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "dpt/timer.h"
#include "host/train/checkpoint_run.h"
#include "host/train/run.h"
#include "kernels/kn_math.h"

enum {
  STALL_POLL_MS = 10,
  SKIP_NOTICES = DPT_SKIP_NOTICES
};

/* Steps done once `step` of `epoch` is: 1-based, counted since training started. */
static long steps_done(const dpt_run *run, int epoch, long step)
{
  return dpt_run_step_index(run, epoch, step) + 1;
}

/* A stalled worker holds back its exchange until the others' waits time out and fail the run
 * (or drop it, --on-worker-failure continue), then gives up too; without either it carries on
 * after 3 timeouts and a second. */
static int stall(dpt_run *run, int w, long done, dpt_err *err)
{
  double until = dpt_now() + 3 * run->cfg->timeout_s + 1;
  while (!dpt_run_failed(run) && !dpt_run_worker_lost(run, w) && dpt_now() < until)
    dpt_sleep(STALL_POLL_MS / 1e3);
  if (!dpt_run_failed(run) && !dpt_run_worker_lost(run, w)) return DPT_OK;
  return dpt_err_set(err, DPT_EABORTED, "step %ld: stalled (DPT_FAULT) until the run %s", done,
                     dpt_run_failed(run) ? "failed" : "dropped it");
}

/* p[0..n) = v on the device (v lives in the caller's frame: wait for the copy). */
static int store_floats(dpt_device *dev, float *p, const float *v, size_t n, dpt_err *err)
{
  int rc = dpt_dev_copy_h2d(dev, p, v, n * sizeof *v, err);
  return rc ? rc : dpt_dev_sync(dev, err);
}

/* The DPT_FAULT aimed at worker w and this step, or DPT_FAULT_NONE. Queued pieces (--staleness
 * inf) reach a worker in no fixed order: the fault's step counts the worker's own exchanges. */
static dpt_fault_kind fault_due(const dpt_run *run, int w, long done)
{
  const dpt_fault *f = &run->resilience.fault;
  if (run->queued) done = (long)run->slots[w].exchanges + 1;
  /* f->worker counts every MPI process's workers (host/train/run_procs.h). */
  return f->worker == run->first_worker + w && f->step == done ? f->kind : DPT_FAULT_NONE;
}

/* The faults that strike before the exchange. */
static int apply_fault(dpt_run *run, int w, dpt_device *dev, float *grads, long done,
                       dpt_err *err)
{
  switch (fault_due(run, w, done)) {
  case DPT_FAULT_STALL: return stall(run, w, done, err);
  case DPT_FAULT_FAIL:
    return dpt_err_set(err, DPT_EDEVICE, "step %ld: injected failure (DPT_FAULT)", done);
  case DPT_FAULT_NAN: return store_floats(dev, grads, &(float){NAN}, 1, err);
  case DPT_FAULT_HANG:
    for (;;) dpt_sleep(1); /* deaf to the run's failure, as a call into a stuck device is */
  case DPT_FAULT_DIVERGE: /* after the exchange: dpt_guard_after_exchange */
  case DPT_FAULT_NONE: break;
  }
  return DPT_OK;
}

/* DPT_FAULT kind=diverge: the replica's first parameter moves by 1, on this worker only. */
static int diverge(dpt_device *dev, float *params, dpt_err *err)
{
  float first;
  int rc = dpt_dev_copy_d2h(dev, &first, params, sizeof first, err);
  first += 1.f;
  return rc ? rc : store_floats(dev, params, &first, 1, err);
}

int dpt_guard_before_exchange(dpt_run *run, int w, dpt_device *dev, float *grads, int epoch,
                              long step, dpt_votes *votes, dpt_err *err)
{
  long done = steps_done(run, epoch, step);
  /* One thread per process asks: a request reaches the others through the vote count. */
  *votes = (dpt_votes){.stop = w == 0 && dpt_observer_stop_requested(run->obs)};
  int rc = apply_fault(run, w, dev, grads, done, err);
  bool bad = false;
  if (!rc) rc = dpt_dev_has_nonfinite(dev, run->n_params, grads, &bad, err);
  if (!rc && bad && run->cfg->on_nan == DPT_ON_NAN_STOP)
    rc = dpt_err_set(err, DPT_ENONFINITE,
                     "step %ld (epoch %d, step %ld of %ld): the gradient holds NaN or Inf; stopped "
                     "before it reached the parameters (--on-nan skip drops such steps instead)",
                     done, epoch, step + 1, run->steps_per_epoch);
  votes->skip = bad;
  return rc;
}

/* Worker 0: counts the skipped step, and announces it while few were. */
static void count_skip(dpt_run *run, int epoch, long step, float workers_voting)
{
  dpt_resilience *r = &run->resilience;
  r->skipped_steps++;
  r->epoch_skipped_steps++;
  const dpt_observer *obs = run->obs;
  if (++r->skip_notices > SKIP_NOTICES || !obs || !obs->on_notice) return;
  char msg[320];
  snprintf(msg, sizeof msg,
           "step %ld (epoch %d): NaN or Inf in the gradient of %.0f worker(s): the step is "
           "skipped on every worker (--on-nan skip)%s",
           steps_done(run, epoch, step), epoch, (double)workers_voting,
           r->skip_notices == SKIP_NOTICES ? "; further skipped steps are counted in the epoch "
                                             "lines"
                                           : "");
  obs->on_notice(obs->ctx, msg);
}

/* With staleness, any worker: the server dropped its push alone. Counted under the skip lock;
 * the first few are queued for worker 0 to print (dpt_guard_print_skips). */
static void count_stale_skip(dpt_run *run, int w, int epoch, long step, bool diverged)
{
  dpt_resilience *r = &run->resilience;
  pthread_mutex_lock(&r->skip_mu);
  r->skipped_steps++;
  r->epoch_skipped_steps++;
  if (diverged && !r->diverged_after) r->diverged_after = steps_done(run, epoch, step);
  if (r->skip_notices < SKIP_NOTICES)
    snprintf(r->skip_notice[r->skip_notices], sizeof r->skip_notice[0],
             "step %ld (epoch %d): NaN or Inf in worker %d's gradient: its push is dropped, the "
             "other workers' are applied (--on-nan skip, --staleness)%s",
             steps_done(run, epoch, step), epoch, run->first_worker + w,
             r->skip_notices + 1 == SKIP_NOTICES ? "; further skipped pushes are counted in the "
                                                   "epoch lines"
                                                 : "");
  r->skip_notices++;
  pthread_mutex_unlock(&r->skip_mu);
}

void dpt_guard_print_skips(dpt_run *run)
{
  dpt_resilience *r = &run->resilience;
  char msgs[SKIP_NOTICES][sizeof r->skip_notice[0]];
  long n = 0;
  pthread_mutex_lock(&r->skip_mu);
  for (; r->notices_printed < r->skip_notices && r->notices_printed < SKIP_NOTICES; n++)
    memcpy(msgs[n], r->skip_notice[r->notices_printed++], sizeof msgs[n]);
  pthread_mutex_unlock(&r->skip_mu);
  for (long i = 0; i < n && run->obs && run->obs->on_notice; i++)
    run->obs->on_notice(run->obs->ctx, msgs[i]);
}

int dpt_guard_after_exchange(dpt_run *run, int w, dpt_device *dev, float *params,
                             dpt_votes counts, int epoch, long step, dpt_step_outcome *out,
                             dpt_err *err)
{
  int rc = DPT_OK;
  if (fault_due(run, w, steps_done(run, epoch, step)) == DPT_FAULT_DIVERGE)
    rc = diverge(dev, params, err);
  *out = (dpt_step_outcome){.counts = counts,
                            .skipped = !rc && kn_step_skipped((float)counts.skip),
                            .stop = !rc && counts.stop > 0};
  long *in_a_row = &run->slots[w].skips_in_a_row;
  *in_a_row = out->skipped ? *in_a_row + 1 : 0;
  out->diverged = *in_a_row > run->cfg->max_skips;
  if (!rc && run->cfg->staleness > 0) {
    if (out->skipped) count_stale_skip(run, w, epoch, step, out->diverged);
    if (w == 0) dpt_guard_print_skips(run);
    return DPT_OK;
  }
  if (rc || !out->skipped || w != 0) return rc;
  count_skip(run, epoch, step, (float)counts.skip);
  if (out->diverged) run->resilience.diverged_after = steps_done(run, epoch, step);
  return DPT_OK;
}

int dpt_guard_step_boundary(dpt_run *run, int w, dpt_device *dev, const float *params, int epoch,
                            long step, const dpt_step_outcome *outcome, dpt_err *err)
{
  long done = steps_done(run, epoch, step), every = run->cfg->checkpoint_every;
  if (outcome->diverged) return DPT_OK; /* what it would save is the state that diverged */
  bool stop = outcome->stop;
  if (stop && w == 0) run->resilience.stopped_after = done;
  bool due = stop || (every > 0 && done % every == 0);
  if (!run->cfg->checkpoint_path || !due || step + 1 == run->steps_per_epoch) return DPT_OK;
  /* Stale workers stop at different steps: their cut is the epoch's end (stale_checkpoint.h). */
  if (run->cfg->staleness > 0) return DPT_OK;
  /* After the first barrier every worker's figures of this step are in its slot and no exchange
   * is in flight; nobody starts the next step before worker 0 has saved. */
  int rc = dpt_barrier_wait(&run->barrier, w, err);
  if (!rc && w == 0) rc = dpt_checkpoint_save_run(run, dev, params, epoch, step + 1, err);
  return rc ? rc : dpt_barrier_wait(&run->barrier, w, err);
}
