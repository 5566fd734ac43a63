/* State shared by the trainer and its worker threads during one run (private to host/).
 * Each worker writes only its own slot; slots are read after a barrier. The first error wins and
 * wakes everyone (sync abort + barrier abort). */
#ifndef DPT_HOST_TRAIN_RUN_H
#define DPT_HOST_TRAIN_RUN_H

#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>

#include "dpt/barrier.h"
#include "dpt/cache_lines.h"
#include "dpt/config.h"
#include "dpt/data.h"
#include "dpt/mlp.h"
#include "dpt/sync.h"
#include "dpt/trainer.h"
#include "host/train/resilience.h"
#include "host/train/straggler.h"
#include "host/train/step_counts.h"

/* One worker's figures, padded so workers never share a cache line. */
typedef struct dpt_worker_slot {
  alignas(DPT_CACHE_LINE) double loss_sum; /* this epoch's training loss, summed */
  long correct;           /* this epoch's correct training predictions */
  long samples;           /* this epoch's training samples */
  long run_samples;       /* the whole run's (dpt_result.worker_samples) */
  double test_loss_sum;
  long test_correct;
  double compute_s, comm_s, wait_s; /* whole run */
  double epoch_t0;        /* when this worker left the epoch's starting barrier */
  /* This worker's loss sum of step g (1-based), a multiple of --metrics-every, in
   * step_loss[g / every % 2], written when it reads its ledger after g. Synchronous: worker 0
   * reads every slot's entry after a barrier all meet after that write; the next writer of the
   * entry, 2 x every steps later, comes after the next such barrier, which worker 0 meets once it
   * has read. With staleness worker 0 reads only its own entry (report_step). */
  double step_loss[2];
  long skips_in_a_row;    /* steps skipped in a row up to the last one: the same in every slot */
  long seen_skipped;      /* the ledger's skipped steps at the last read */
  /* --on-worker-failure continue (host/train/run_lose.c): */
  atomic_bool in_training; /* written by the worker: inside its epoch's training loop */
  atomic_bool lost;        /* claimed by whoever drops the worker, once */
  atomic_bool lost_ready;  /* lost_why is written (for worker 0's notice) */
  bool lost_announced;     /* worker 0 printed the notice */
  char lost_why[320];
  long piece;              /* queued: the piece it holds, and its exchanges when it took it */
  uint64_t piece_exchanges; /* (both under the run's queue_mu) */
  uint64_t exchanges;      /* written by the worker: its exchanges that returned */
  uint64_t pull_staleness; /* written by the worker: what its last exchange's pull observed */
  float *replica_copy;    /* --check-replicas: host copy of this worker's parameters */
  dpt_step_counts counts; /* CUDA: the device's counts at the run's points */
} dpt_worker_slot;

typedef struct dpt_run {
  const dpt_config *cfg;
  const dpt_observer *obs;
  const dpt_dataset *train, *test;
  dpt_mlp_shape shape;
  size_t n_params;
  const float *init_params;  /* host */
  float *final_params;       /* host: worker 0 copies its replica here at the end */
  dpt_device_kind device_kind;
  int workers;
  int blas_threads;
  int ps_shards;
  int ps_threads;
  int max_rows;              /* per worker per step: ceil(batch / all_workers) */
  int replica_rows;          /* a replica's rows: max_rows, or more for evaluation chunks */
  long steps_per_epoch;
  /* The ledgers are read after every read_every-th step (host/train/step_guard.h): 1 on the CPU,
   * where reading costs nothing; on a GPU --metrics-every. */
  long read_every;
  dpt_sync sync;
  dpt_barrier barrier;
  dpt_worker_slot *slots;
  struct dpt_trace *trace;   /* --trace: per-worker span buffers; NULL: off */
  double train_s;            /* training loop time, summed over epochs (worker 0 writes) */
  dpt_epoch_stats epoch_stats; /* the last epoch's figures (worker 0 writes) */
  double start_s;            /* when training started */
  dpt_resilience resilience; /* resume position, stop requests, checkpoints, --on-nan, test hooks */
  dpt_stragglers stragglers; /* --straggler; none: n_fixed 0, random_p 0 */
  /* --staleness inf: the epoch's batches dealt one worker's share ("piece") at a time from a
   * shared queue, so that fast workers do more of them (host/train/piece_queue.h); under MPI it
   * lives on process 0. */
  bool queued;
  struct dpt_piece_queue *pieces; /* under MPI: the queue's channel; NULL otherwise */
  pthread_mutex_t queue_mu;  /* guards queue_epoch, next_piece, returned and every slot's piece */
  int queue_epoch;           /* the epoch dealt last (0: none yet) */
  long next_piece;
  long *returned;            /* pieces lost workers held, dealt again first (workers entries) */
  int n_returned;
  atomic_int workers_lost;
  pthread_mutex_t lose_mu;   /* one dpt_run_lose_worker at a time (host/train/run_lose.c) */
  atomic_bool stop_seen;     /* with staleness: some worker stopped on a stop vote (worker.c) */
  long steps_to_target;      /* --target-acc (dpt_result); worker 0 writes */
  double seconds_to_target;
  /* Over MPI processes (host/train/run_procs.h): this process's workers are global workers
   * first_worker.. of all_workers; one process: 1, 0, 0 and workers, mpi NULL. */
  int procs, proc_rank, first_worker, all_workers;
  long *all_samples; /* over MPI, once the workers joined: every worker's samples (run_totals.h) */
  /* CUDA: this process's worker w uses device first_ordinal + w (the node's processes share its
   * GPUs, dpt_config.local_rank); 0 on the CPU. */
  int first_ordinal;
  struct dpt_run_procs *mpi;
  pthread_mutex_t err_mu;
  dpt_err err;               /* the first error */
} dpt_run;

/* Where a step sits in the run, the one place that says it: steps of the run before step `step`
 * (0-based) of epoch `epoch` (1-based), i.e. the global step's 0-based index. The step after
 * epoch e's last one is dpt_run_step_index(run, e + 1, 0). */
static inline long dpt_run_step_index(const dpt_run *run, int epoch, long step)
{
  return (long)(epoch - 1) * run->steps_per_epoch + step;
}

/* Steps of the whole run, --epochs of them. */
static inline long dpt_run_total_steps(const dpt_run *run)
{
  return dpt_run_step_index(run, run->cfg->epochs + 1, 0);
}

/* Whether the run has failed (its first error is recorded). */
bool dpt_run_failed(dpt_run *run);

/* Records the first error ("worker W: ...") and wakes every thread. */
void dpt_run_fail(dpt_run *run, int worker, const dpt_err *err);

/* Worker `worker` failed (err) or is late (err: what waited for it): with --on-worker-failure
 * continue, stale training and the worker inside its training loop (worker 0 excepted: it
 * reports the run), it leaves the run for good, the others train on; otherwise the run fails
 * (dpt_run_fail). From any thread; once per worker (host/train/run_lose.c). */
void dpt_run_lose_worker(dpt_run *run, int worker, const dpt_err *err);

/* Whether worker was dropped from the run. */
bool dpt_run_worker_lost(dpt_run *run, int worker);

/* Worker 0, between steps: one notice per worker lost since the last call. */
void dpt_run_announce_lost(dpt_run *run);

/* The body of worker thread `worker`. */
void dpt_worker_run(dpt_run *run, int worker);

/* Rows [offset, offset+count) of a global batch of `batch_rows` that worker w of n trains on:
 * the first batch_rows % n workers take one row more. */
void dpt_shard_rows(int batch_rows, int n, int w, int *offset, int *count);

#endif
