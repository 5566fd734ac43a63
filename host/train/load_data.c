#include "host/train/load_data.h"

#include <stdio.h>

#include "dpt/timer.h"
#include "host/train/run.h"

enum { SLOW_LOAD_POLL_MS = 10 };

/* The loader's stop check: the observer's request, after the hook's delay, which ends as soon as
 * a stop is requested. */
static bool stop_requested(void *ctx)
{
  const dpt_run *run = ctx;
  double until = dpt_now() + run->resilience.fault.slow_load_s;
  for (;;) {
    if (dpt_observer_stop_requested(run->obs)) return true;
    if (dpt_now() >= until) return false;
    dpt_sleep(SLOW_LOAD_POLL_MS / 1e3);
  }
}

int dpt_run_load_data(dpt_run *run, dpt_data_plan_check plan_check, dpt_dataset *train,
                      dpt_dataset *test, dpt_err *err)
{
  dpt_data_options load = {.stop = {.requested = stop_requested, .ctx = run},
                           .wait_s = run->cfg->timeout_s, .check_plan = plan_check,
                           .plan_ctx = run};
  int rc = dpt_data_load_dir(run->cfg->data_dir, &load, train, test, err);
  if (rc != DPT_EINTERRUPTED) return rc;
  char where[sizeof err->msg];
  snprintf(where, sizeof where, "%s", err->msg); /* the file, and what the read was doing */
  dpt_err_clear(err);
  if (run->cfg->procs > 1) return DPT_OK;
  return dpt_err_set(err, DPT_EINTERRUPTED, "stopped on request while loading the data, before "
                     "training: nothing to save (%s)", where);
}
