/* --metrics FILE.csv: one row every --metrics-every steps and one per epoch, written as the run
 * goes into a temporary file that is renamed into place only when the run succeeded.
 *
 * Columns: kind (step|epoch), step, epoch, workers, strategy, loss, lr, samples_per_sec,
 * test_accuracy (epoch rows only), elapsed_s; with --staleness S >= 1 also staleness (step rows
 * only: dpt_step_stats.staleness, worker 0's pull). A step row's loss is that step's mean over its
 * global batch and its samples_per_sec the throughput since the previous step row of the epoch; an
 * epoch row carries the epoch's mean loss and throughput. */
#ifndef DPT_HOST_RECORD_METRICS_H
#define DPT_HOST_RECORD_METRICS_H

#include "dpt/config.h"
#include "dpt/trainer.h"
#include "dpt/atomic_file.h"

typedef struct dpt_metrics {
  dpt_atomic_file af;
  int every;
  const char *strategy;
  bool stale;                 /* the staleness column */
  int last_epoch;             /* of the previous step row */
  long last_samples;
  double last_epoch_elapsed_s;
} dpt_metrics;

/* Opens cfg->metrics_path's temporary file and writes the header. */
int dpt_metrics_open(dpt_metrics *m, const dpt_config *cfg, dpt_err *err);
/* Rows arrive from the trainer's worker 0 thread. */
dpt_observer dpt_metrics_observer(dpt_metrics *m);
int dpt_metrics_commit(dpt_metrics *m, dpt_err *err);
void dpt_metrics_discard(dpt_metrics *m);

#endif
