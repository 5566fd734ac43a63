#include "host/train/resilience.h"

#include <stdio.h>
#include <stdlib.h>

#include "host/train/checkpoint_run.h"
#include "host/train/run.h"
#include "host/train/step_guard.h"

static int allocate_save_buffers(dpt_run *run, dpt_err *err)
{
  dpt_resilience *r = &run->resilience;
  r->save_workers = calloc((size_t)run->all_workers, sizeof *r->save_workers);
  r->save_mine = calloc((size_t)run->workers, sizeof *r->save_mine);
  if (r->save_workers && r->save_mine && run->proc_rank > 0) return DPT_OK;
  /* Process 0 alone writes the file (host/train/checkpoint_run.c), so it alone stages the state. */
  r->save_params = malloc(run->n_params * sizeof(float));
  r->save_velocity = malloc(run->n_params * sizeof(float));
  if (r->save_params && r->save_velocity && r->save_workers && r->save_mine) return DPT_OK;
  return dpt_err_set(err, DPT_ENOMEM, "--checkpoint: out of memory for %zu parameters",
                     run->n_params);
}

int dpt_resilience_setup(dpt_run *run, float *init_params, dpt_sync_config *sc, dpt_err *err)
{
  dpt_resilience *r = &run->resilience;
  r->start_epoch = 1;
  int rc = DPT_OK;
  if (r->fault.kind != DPT_FAULT_NONE && r->fault.worker >= run->all_workers)
    rc = dpt_err_set(err, DPT_EINPUT, "DPT_FAULT: worker %d, but the run has %d worker(s)",
                     r->fault.worker, run->all_workers);
  if (!rc && run->cfg->resume_path) rc = dpt_checkpoint_resume_run(run, init_params, err);
  if (!rc && run->cfg->checkpoint_path) rc = allocate_save_buffers(run, err);
  sc->init_velocity = r->resumed.velocity; /* NULL unless resumed: start from zero */
  return rc;
}

/* "step 29 of 60 (epoch 2, step 9 of 20)": step counts from 1 since training started. */
static void where_text(const dpt_run *run, long step, char *buf, size_t size)
{
  long last = dpt_run_total_steps(run);
  long in_epoch = (step - 1) % run->steps_per_epoch + 1;
  int epoch = (int)((step - 1) / run->steps_per_epoch) + 1;
  snprintf(buf, size, "step %ld of %ld (epoch %d, step %ld of %ld)", step, last, epoch, in_epoch,
           run->steps_per_epoch);
}

static int diverged(const dpt_run *run, dpt_err *err)
{
  const dpt_config *cfg = run->cfg;
  char where[128];
  where_text(run, run->resilience.diverged_after, where, sizeof where);
  return dpt_err_set(err, DPT_EDIVERGED,
                     "diverged: %d steps in a row had NaN or Inf in their gradient and were "
                     "skipped, up to %s; stopped%s. Lower --lr (now %g), or raise --max-skips "
                     "(now %d) to let a run skip longer",
                     cfg->max_skips + 1, where,
                     cfg->checkpoint_path
                         ? " without saving a checkpoint (an earlier one stays as it was)"
                         : "",
                     (double)cfg->schedule.base_lr, cfg->max_skips);
}

int dpt_resilience_finish(dpt_run *run, dpt_err *err)
{
  if (run->cfg->staleness > 0) dpt_guard_print_skips(run); /* those after worker 0's last step */
  const dpt_resilience *r = &run->resilience;
  if (r->diverged_after) return diverged(run, err);
  if (r->nonfinite_after) {
    char where[128];
    where_text(run, r->nonfinite_after, where, sizeof where);
    return dpt_err_set(err, DPT_ENONFINITE,
                       "stopped after %s: another process's worker had NaN or Inf in its "
                       "gradient (--on-nan stop; that process names it)",
                       where);
  }
  long last = dpt_run_total_steps(run);
  if (r->stopped_after == 0 || (r->stopped_after >= last && !r->evaluation_cut)) return DPT_OK;
  const char *ck = run->cfg->checkpoint_path;
  const char *during = r->evaluation_cut ? ", during its evaluation" : "";
  if (r->stopped_after >= last) /* nothing is left to resume */
    return dpt_err_set(err, DPT_EINTERRUPTED,
                       "stopped on request during the last epoch's evaluation: the training is "
                       "complete%s%s, its evaluation is not",
                       ck ? ", saved in " : "", ck ? ck : "");
  char where[128];
  where_text(run, r->stopped_after, where, sizeof where);
  if (ck && run->cfg->staleness > 0 && !r->evaluation_cut) /* cut at epochs' ends only */
    return r->saved_epoch > 0
               ? dpt_err_set(err, DPT_EINTERRUPTED,
                             "stopped on request after %s; stale training saves at epochs' "
                             "ends only: --resume %s continues from the end of epoch %d",
                             where, ck, r->saved_epoch - 1)
               : dpt_err_set(err, DPT_EINTERRUPTED,
                             "stopped on request after %s; stale training saves at epochs' "
                             "ends only, and no epoch of this run ended: it saved nothing in %s",
                             where, ck);
  return dpt_err_set(err, DPT_EINTERRUPTED, "stopped on request after %s%s; %s%s%s", where, during,
                     ck ? "--resume " : "no checkpoint saved (no --checkpoint)", ck ? ck : "",
                     ck ? " continues it" : "");
}

long dpt_resilience_samples_before_start(const dpt_run *run)
{
  const dpt_resilience *r = &run->resilience;
  long n = (long)run->train->count, in_epoch = r->start_step * (long)run->cfg->batch;
  return (long)(r->start_epoch - 1) * n + (in_epoch < n ? in_epoch : n);
}

void dpt_resilience_release(dpt_run *run)
{
  dpt_resilience *r = &run->resilience;
  dpt_checkpoint_free(&r->resumed);
  free(r->save_params);
  free(r->save_velocity);
  free(r->save_workers);
  free(r->save_mine);
  r->save_params = r->save_velocity = NULL;
  r->save_workers = r->save_mine = NULL;
}
