/* Losing a worker (--on-worker-failure continue, docs/ps.md "Failing workers"): it leaves the
 * exchange (the stale server no longer waits for it and refuses its later calls) and the
 * barrier; a piece of the shared queue it held and never pushed is dealt again; worker 0
 * announces it between two steps (only worker 0 writes to the console while training). */
#include <stdio.h>

#include "host/train/run.h"

bool dpt_run_worker_lost(dpt_run *run, int worker)
{
  return atomic_load(&run->slots[worker].lost);
}

/* The piece worker held, unless its exchange was applied (its count of exchanges moved on). */
static void return_piece(dpt_run *run, int worker, uint64_t exchanges)
{
  dpt_worker_slot *slot = &run->slots[worker];
  pthread_mutex_lock(&run->queue_mu);
  if (run->queued && slot->piece >= 0 && slot->piece_exchanges == exchanges)
    run->returned[run->n_returned++] = slot->piece;
  slot->piece = -1;
  pthread_mutex_unlock(&run->queue_mu);
}

void dpt_run_lose_worker(dpt_run *run, int worker, const dpt_err *err)
{
  dpt_worker_slot *slot = &run->slots[worker];
  bool may = run->cfg->on_worker_failure == DPT_ON_FAILURE_CONTINUE && worker != 0 &&
             atomic_load(&slot->in_training) && !dpt_run_failed(run);
  if (!may && worker == 0 && run->cfg->on_worker_failure == DPT_ON_FAILURE_CONTINUE) {
    dpt_err why = {.code = err->code};
    snprintf(why.msg, sizeof why.msg, "%.3800s (worker 0 reports the run: its failure stops it "
                                      "even with --on-worker-failure continue)",
             err->msg);
    dpt_run_fail(run, worker, &why);
    return;
  }
  if (!may) {
    dpt_run_fail(run, worker, err);
    return;
  }
  /* One loss at a time, whole: two waiters timing out together both hand the worker over, and
   * the second must find it gone from the barrier, not half-way (it would abort the barrier). */
  pthread_mutex_lock(&run->lose_mu);
  if (atomic_exchange(&slot->lost, true)) {
    pthread_mutex_unlock(&run->lose_mu);
    return;
  }
  uint64_t exchanges = 0;
  dpt_err why = {0};
  if (dpt_sync_drop(&run->sync, worker, &exchanges, &why)) {
    pthread_mutex_unlock(&run->lose_mu);
    dpt_run_fail(run, worker, &why);
    return;
  }
  return_piece(run, worker, exchanges);
  int lost = atomic_fetch_add(&run->workers_lost, 1) + 1;
  snprintf(slot->lost_why, sizeof slot->lost_why,
           "worker %d left the run after %llu exchanges (%.120s); training goes on with %d of "
           "%d workers (--on-worker-failure continue)",
           run->first_worker + worker, (unsigned long long)exchanges, err->msg,
           run->workers - lost, run->workers);
  atomic_store(&slot->lost_ready, true);
  dpt_barrier_leave(&run->barrier, worker);
  pthread_mutex_unlock(&run->lose_mu);
}

void dpt_run_announce_lost(dpt_run *run)
{
  for (int w = 1; w < run->workers; w++) {
    dpt_worker_slot *slot = &run->slots[w];
    if (slot->lost_announced || !atomic_load(&slot->lost_ready)) continue;
    slot->lost_announced = true;
    if (run->obs && run->obs->on_notice) run->obs->on_notice(run->obs->ctx, slot->lost_why);
  }
}
