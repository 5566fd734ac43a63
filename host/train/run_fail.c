/* The run's first error: recorded once, then every waiting thread is woken. */
#include "host/train/piece_queue.h"
#include "host/train/run.h"
#include "host/train/run_procs.h"

bool dpt_run_failed(dpt_run *run)
{
  pthread_mutex_lock(&run->err_mu);
  bool failed = run->err.code != DPT_OK;
  pthread_mutex_unlock(&run->err_mu);
  return failed;
}

void dpt_run_fail(dpt_run *run, int worker, const dpt_err *err)
{
  pthread_mutex_lock(&run->err_mu);
  bool first = run->err.code == DPT_OK;
  /* Later failures are mostly waits woken by this one: the original error is what matters. */
  if (first) /* numbered over every MPI process, as DPT_FAULT numbers them */
    dpt_err_set(&run->err, err->code, "worker %d: %s", run->first_worker + worker, err->msg);
  pthread_mutex_unlock(&run->err_mu);
  if (!first) return;
  dpt_sync_abort(&run->sync, err->code, err->msg);
  dpt_barrier_abort(&run->barrier, err->code, err->msg);
  dpt_run_procs_abort(run, err->code, err->msg);
  dpt_piece_queue_abort(run->pieces, err->code, err->msg);
}
