/* Private to host/: a run over several MPI processes (docs/mpi.md). Each process runs
 * dpt_run.workers worker threads; together they are dpt_run.all_workers workers, process p's local
 * worker w being global worker p x workers + w. Every global batch, and the test set, is split
 * over all of them exactly as one process would split it over as many workers (dpt_shard_rows),
 * and the figures reported (losses, accuracies) are sums over every process's workers. In one
 * process these functions cost nothing and change nothing. */
#ifndef DPT_HOST_TRAIN_RUN_PROCS_H
#define DPT_HOST_TRAIN_RUN_PROCS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dpt/status.h"

struct dpt_run;
typedef struct dpt_run_procs dpt_run_procs;

/* Once the run knows its device and worker count: the process fields of the run; refuses
 * processes that differ in worker count, device kind or data; opens the figures' channel
 * (collective: every process calls it at the same point). stop: this process was asked to stop
 * (its data may be empty): then every process returns DPT_EINTERRUPTED, before training. */
int dpt_run_procs_setup(struct dpt_run *run, bool stop, dpt_err *err);

/* Worker 0 of every process, at the same point of the run: sums[0..n) becomes the sum over the
 * processes of their sums, added in process order (reproducible). */
int dpt_run_procs_sum(struct dpt_run *run, double *sums, int n, dpt_err *err);

/* Worker 0 of every process, at the same point: all[p x bytes, (p + 1) x bytes) becomes process
 * p's mine, on every process (one process: a copy of mine). */
int dpt_run_procs_gather(struct dpt_run *run, const void *mine, size_t bytes, void *all,
                         dpt_err *err);

/* Worker 0 of every process, at the same point: *odd becomes the first process whose `mine`
 * differs from process 0's, or -1 when none does (always in one process), the same on every
 * process; with one, *first and *its are process 0's and its value. */
int dpt_run_procs_find_odd(struct dpt_run *run, uint64_t mine, int *odd, uint64_t *first,
                           uint64_t *its, dpt_err *err);

/* Worker 0 of every process, at the same point: buf[0..bytes) becomes process 0's, any size. */
int dpt_run_procs_bcast(struct dpt_run *run, void *buf, size_t bytes, dpt_err *err);

/* Worker 0 of every process, once process 0 has done alone what decides for all (written or read
 * a checkpoint) and got rc (its message in err; the others pass 0): every process returns that
 * code, the others with "<what>: <process 0's message>". No process returns before process 0 has
 * called it: the others wait for it up to wait_s (not --timeout: the work may take longer; <= 0:
 * no bound), a timeout saying they waited for `awaited` ("process 0 to save the checkpoint").
 * Process 0 returns rc even if telling the others fails. */
int dpt_run_procs_share_status(struct dpt_run *run, int rc, const char *what, const char *awaited,
                               double wait_s, dpt_err *err);

/* The first CUDA ordinal of process p's workers (dpt_run.first_ordinal there), gathered by
 * setup. */
int dpt_run_procs_first_ordinal(const struct dpt_run *run, int p);

/* Wakes worker 0 from these collectives with an error (from any thread). */
void dpt_run_procs_abort(struct dpt_run *run, int code, const char *why);

void dpt_run_procs_close(struct dpt_run *run);

#endif
