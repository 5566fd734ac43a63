/* Private to host/: a run over several MPI processes (docs/mpi.md). Each process runs
 * dpt_run.workers worker threads; together they are dpt_run.all_workers workers, process p's local
 * worker w being global worker p x workers + w. Every global batch, and the test set, is split
 * over all of them exactly as one process would split it over as many workers (dpt_shard_rows),
 * and the figures reported (losses, accuracies) are sums over every process's workers. In one
 * process these functions cost nothing and change nothing. */
#ifndef DPT_HOST_RUN_PROCS_H
#define DPT_HOST_RUN_PROCS_H

#include "dpt/status.h"

struct dpt_run;
typedef struct dpt_run_procs dpt_run_procs;

/* Once the run knows its device and worker count: the process fields of the run; refuses what
 * does not work over processes yet (--checkpoint, --resume) and processes that differ in worker
 * count, device kind or data; opens the figures' channel (collective: every process calls it at
 * the same point). */
int dpt_run_procs_setup(struct dpt_run *run, dpt_err *err);

/* Worker 0 of every process, at the same point of the run: sums[0..n) becomes the sum over the
 * processes of their sums, added in process order (reproducible). */
int dpt_run_procs_sum(struct dpt_run *run, double *sums, int n, dpt_err *err);

/* Wakes worker 0 from dpt_run_procs_sum with an error (from any thread). */
void dpt_run_procs_abort(struct dpt_run *run, int code, const char *why);

void dpt_run_procs_close(struct dpt_run *run);

#endif
