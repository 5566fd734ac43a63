#include "host/train/step_guard.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "dpt/timer.h"
#include "host/train/checkpoint_run.h"
#include "host/train/run.h"
#include "dpt/votes.h"

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

/* A stop vote, cast by copying it into the tally (it outlives the queued copy). */
static const float stop_vote = 1.f;

int dpt_guard_before_exchange(dpt_run *run, int w, dpt_device *dev, float *grads,
                              const float *gate, int epoch, long step, bool read_due, dpt_err *err)
{
  long done = steps_done(run, epoch, step);
  int rc = apply_fault(run, w, dev, grads, done, err);
  if (!rc) rc = dpt_dev_vote(dev, run->n_params, grads, gate, err);
  /* One thread per process asks: a request reaches the others through the vote count, which
   * every worker reads after this step. */
  if (!rc && w == 0 && read_due && dpt_observer_stop_requested(run->obs))
    rc = dpt_dev_copy_h2d(dev, grads + run->n_params + DPT_TALLY_STOP, &stop_vote,
                          sizeof stop_vote, err);
  return rc;
}

/* Worker 0: the first few skipped steps since the last read told to the observer. */
static void tell_skips(dpt_run *run, const dpt_ledger *l, long first, long count)
{
  dpt_resilience *r = &run->resilience;
  const dpt_observer *obs = run->obs;
  for (long i = first; i < first + count && i < DPT_LEDGER_NOTES; i++) {
    if (++r->skip_notices > SKIP_NOTICES || !obs || !obs->on_notice) return;
    long at = (long)l->note_step[i];
    char msg[320];
    snprintf(msg, sizeof msg,
             "step %ld (epoch %ld): NaN or Inf in the gradient of %.0f worker(s): the step is "
             "skipped on every worker (--on-nan skip)%s",
             at, (at - 1) / run->steps_per_epoch + 1, l->note_workers[i],
             r->skip_notices == SKIP_NOTICES ? "; further skipped steps are counted in the epoch "
                                               "lines"
                                             : "");
    obs->on_notice(obs->ctx, msg);
  }
}

/* With staleness, any worker, from its own ledger: the server dropped its pushes alone. Counted
 * under the skip lock; the first few are queued for worker 0 to print (dpt_guard_print_skips). */
static void count_stale_skips(dpt_run *run, int w, const dpt_ledger *l, long first, long count)
{
  dpt_resilience *r = &run->resilience;
  pthread_mutex_lock(&r->skip_mu);
  r->skipped_steps += count;
  r->epoch_skipped_steps += count;
  for (long i = first; i < first + count && i < DPT_LEDGER_NOTES; i++, r->skip_notices++) {
    if (r->skip_notices >= SKIP_NOTICES) continue;
    long at = (long)l->note_step[i];
    snprintf(r->skip_notice[r->skip_notices], sizeof r->skip_notice[0],
             "step %ld (epoch %ld): NaN or Inf in worker %d's gradient: its push is dropped, the "
             "other workers' are applied (--on-nan skip, --staleness)%s",
             at, (at - 1) / run->steps_per_epoch + 1, run->first_worker + w,
             r->skip_notices + 1 == SKIP_NOTICES ? "; further skipped pushes are counted in the "
                                                   "epoch lines"
                                                 : "");
  }
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

int dpt_guard_after_exchange(dpt_run *run, int w, dpt_device *dev, float *params, int epoch,
                             long step, dpt_err *err)
{
  if (fault_due(run, w, steps_done(run, epoch, step)) == DPT_FAULT_DIVERGE)
    return diverge(dev, params, err);
  return DPT_OK;
}

bool dpt_guard_read_due(const dpt_run *run, int epoch, long step)
{
  long done = steps_done(run, epoch, step), every = run->cfg->checkpoint_every;
  return done % run->read_every == 0 || step + 1 == run->steps_per_epoch ||
         (run->cfg->checkpoint_path && every > 0 && done % every == 0);
}

int dpt_guard_read(dpt_run *run, int w, const dpt_ledger *l, int epoch, long step,
                   dpt_step_outcome *out, dpt_err *err)
{
  dpt_worker_slot *slot = &run->slots[w];
  slot->run_samples += (long)l->samples - slot->samples;
  slot->loss_sum = l->loss_sum;
  slot->correct = (long)l->correct;
  slot->samples = (long)l->samples;
  slot->skips_in_a_row = (long)l->in_a_row;
  long first = slot->seen_skipped, count = (long)l->skipped - first;
  slot->seen_skipped = (long)l->skipped;
  bool stale = run->cfg->staleness > 0; /* each worker counts its own dropped pushes */
  if (stale && count > 0) count_stale_skips(run, w, l, first, count);
  if (stale && w == 0) dpt_guard_print_skips(run);
  if (!stale && w == 0 && count > 0) {
    run->resilience.skipped_steps += count;
    run->resilience.epoch_skipped_steps += count;
    tell_skips(run, l, first, count);
  }
  *out = (dpt_step_outcome){.stop = l->stop_votes > 0};
  long at = (long)l->halted_after;
  if (at == 0) return DPT_OK;
  if (!l->halted_nonfinite) {
    out->diverged = true;
    if (stale) pthread_mutex_lock(&run->resilience.skip_mu);
    if ((w == 0 || stale) && !run->resilience.diverged_after) run->resilience.diverged_after = at;
    if (stale) pthread_mutex_unlock(&run->resilience.skip_mu);
    return DPT_OK;
  }
  long bad = (long)l->own_bad_step;
  if (bad == 0) { /* another worker's: it fails (or, in another process, it ends that one) */
    out->halted = true;
    if (w == 0) run->resilience.nonfinite_after = at;
    return DPT_OK;
  }
  return dpt_err_set(err, DPT_ENONFINITE,
                     "step %ld (epoch %ld, step %ld of %ld): the gradient holds NaN or Inf; stopped "
                     "before it reached the parameters (--on-nan skip drops such steps instead)",
                     bad, (bad - 1) / run->steps_per_epoch + 1, (bad - 1) % run->steps_per_epoch + 1,
                     run->steps_per_epoch);
}

int dpt_guard_step_boundary(dpt_run *run, int w, dpt_device *dev, const float *params, int epoch,
                            long step, const dpt_step_outcome *outcome, dpt_err *err)
{
  long done = steps_done(run, epoch, step), every = run->cfg->checkpoint_every;
  if (outcome->diverged || outcome->halted) return DPT_OK; /* that state is not worth saving */
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
