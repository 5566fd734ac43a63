#include "host/train/stale_checkpoint.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>

#include "dpt/hash.h"
#include "host/train/run.h"

uint64_t dpt_stale_state_hash(const float *params, const float *velocity, size_t n)
{
  uint64_t h = dpt_hash_bytes(DPT_HASH_INIT, params, n * sizeof *params);
  return dpt_hash_bytes(h, velocity, n * sizeof *velocity);
}

/* The clocks (every process's workers', in global order: the server's) against the steps this run
 * trained before epoch next_epoch (clocks start at 0). Under MPI no worker is ever lost. */
static int check_clocks(const dpt_run *run, const uint64_t *clocks, int next_epoch, dpt_err *err)
{
  const dpt_resilience *r = &run->resilience;
  uint64_t steps = (uint64_t)(dpt_run_step_index(run, next_epoch, 0) -
                              dpt_run_step_index(run, r->start_epoch, r->start_step));
  uint64_t pieces = 0;
  for (int w = 0; w < run->all_workers; w++) {
    pieces += clocks[w];
    bool lost = run->procs == 1 && dpt_run_worker_lost((dpt_run *)run, w);
    if (run->queued || lost || clocks[w] == steps) continue;
    return dpt_err_set(err, DPT_EINTERNAL,
                       "checkpoint: not a consistent cut: worker %d has pushed %" PRIu64
                       " time(s), the end of epoch %d needs %" PRIu64,
                       w, clocks[w], next_epoch - 1, steps);
  }
  uint64_t want = steps * (uint64_t)run->all_workers;
  if (!run->queued || pieces == want) return DPT_OK;
  return dpt_err_set(err, DPT_EINTERNAL,
                     "checkpoint: not a consistent cut: the workers pushed %" PRIu64
                     " piece(s), the end of epoch %d needs %" PRIu64,
                     pieces, next_epoch - 1, want);
}

int dpt_stale_checkpoint_read(dpt_run *run, int next_epoch, dpt_err *err)
{
  dpt_resilience *r = &run->resilience;
  uint64_t *clocks = malloc((size_t)run->all_workers * sizeof *clocks);
  if (!clocks) return dpt_err_set(err, DPT_ENOMEM, "checkpoint: out of memory");
  int rc = dpt_sync_read_cut(&run->sync, r->save_params, r->save_velocity, clocks, err);
  if (!rc) rc = check_clocks(run, clocks, next_epoch, err);
  free(clocks);
  return rc;
}

int dpt_stale_resumed_state(dpt_run *run, uint64_t *hash, dpt_err *err)
{
  float *state = malloc(2 * run->n_params * sizeof *state);
  uint64_t *clocks = malloc((size_t)run->all_workers * sizeof *clocks);
  int rc = state && clocks ? DPT_OK : dpt_err_set(err, DPT_ENOMEM, "--resume: out of memory");
  if (!rc) rc = dpt_sync_read_cut(&run->sync, state, state + run->n_params, clocks, err);
  if (!rc) *hash = dpt_stale_state_hash(state, state + run->n_params, run->n_params);
  free(state);
  free(clocks);
  return rc;
}
