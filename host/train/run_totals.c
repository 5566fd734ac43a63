#include "host/train/run_totals.h"

#include <stdlib.h>

#include "host/train/run.h"
#include "host/train/run_procs.h"

enum { SKIPPED, DIVERGED_AFTER, SAMPLES }; /* a process's row: then one entry per worker */

int dpt_run_totals_gather(dpt_run *run, dpt_err *err)
{
  if (run->procs <= 1) return DPT_OK;
  size_t row = (size_t)SAMPLES + (size_t)run->workers;
  double *mine = malloc(row * sizeof *mine);
  double *all = malloc(row * (size_t)run->procs * sizeof *all);
  run->all_samples = malloc((size_t)run->all_workers * sizeof *run->all_samples);
  int rc = mine && all && run->all_samples ? DPT_OK
                                           : dpt_err_set(err, DPT_ENOMEM, "report: out of memory");
  dpt_resilience *r = &run->resilience;
  if (!rc) {
    mine[SKIPPED] = (double)r->skipped_steps;
    mine[DIVERGED_AFTER] = (double)r->diverged_after;
    for (int w = 0; w < run->workers; w++) mine[SAMPLES + w] = (double)run->slots[w].run_samples;
    rc = dpt_run_procs_gather(run, mine, row * sizeof *mine, all, err);
  }
  long skipped = 0, diverged = 0;
  for (int p = 0; p < run->procs && !rc; p++) {
    const double *its = all + (size_t)p * row;
    skipped += (long)its[SKIPPED];
    long at = (long)its[DIVERGED_AFTER];
    if (at > 0 && (diverged == 0 || at < diverged)) diverged = at;
    for (int w = 0; w < run->workers; w++)
      run->all_samples[p * run->workers + w] = (long)its[SAMPLES + w];
  }
  if (!rc && run->cfg->staleness > 0) {
    r->skipped_steps = skipped;
    r->diverged_after = diverged;
  }
  free(mine);
  free(all);
  return rc;
}
