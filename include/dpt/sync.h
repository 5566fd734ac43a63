/* Gradient exchange as the worker sees it: its backward pass writes the gradient into the buffer
 * dpt_sync_attach handed it, and its votes into the tally after it (dpt/votes.h), then it calls
 * dpt_sync_exchange with its replica's parameters; once the device has run what the exchange
 * queued, the parameters hold the result of the optimizer step on the gradient summed over all
 * workers (or are as they were, when a worker voted to skip), and the tally every worker's vote
 * counts. The worker does not know which strategy runs, nor how it carries the votes. */
#ifndef DPT_SYNC_H
#define DPT_SYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dpt/comm.h"
#include "dpt/device.h"
#include "dpt/ps.h"
#include "dpt/status.h"
#include "dpt/votes.h"

typedef enum { DPT_STRATEGY_ALLREDUCE = 0, DPT_STRATEGY_PS = 1 } dpt_strategy;

/* Time one exchange spent, in seconds, split the same way on every strategy and device. */
typedef struct dpt_sync_timing {
  double comm_s;   /* moving and reducing bytes, applying the step */
  double wait_s;   /* blocked on the slowest worker or a lock */
  uint64_t staleness; /* ps with staleness: pushes the slowest worker trailed this one by when
                       * the parameters were pulled (dpt_ps_round); 0 otherwise */
} dpt_sync_timing;

typedef struct dpt_sync_ops {
  const char *name; /* "allreduce" or "ps" */
  /* Called once by each worker thread before training: allocates what that worker needs on its
   * device (no allocation happens while collectives are in flight), among it *grads: n_params
   * floats on dev, then DPT_TALLY_FLOATS (zero), the strategy's until detach, where the worker's
   * backward pass writes the gradient and its vote the tally each exchange reads. */
  int (*attach)(void *ctx, int worker, dpt_device *dev, const float *params, float **grads,
                dpt_err *err);
  /* mine: this worker's votes from the host (NULL: those in the tally on the device); *counts
   * (unless NULL): every worker's, counted, brought to the host (waiting for the device); either
   * way the counts are left in the tally. Nothing waits for the device otherwise: allreduce on
   * CUDA only queues the sum and the step (waiting for the previous exchange's sum, dpt/comm.h);
   * ps waits for the gradient's copy, and queues the parameters' upload. */
  /* settles: the worker calls settle before its next exchange, which waits for this one, so
   * this one need not wait for the one before (one wait instead of two). commit (unless NULL):
   * the step's figures, committed to the worker's ledger on its device from the summed tally
   * (allreduce on CUDA: in the same launch as the SGD step). */
  int (*exchange)(void *ctx, int worker, float *params, float lr, const dpt_votes *mine,
                  dpt_votes *counts, const dpt_ledger_step *commit, bool settles,
                  dpt_sync_timing *timing, dpt_err *err);
  /* Returns once the work queued on worker's device so far is done, its last exchange's included,
   * or fails as the exchange would (abort, a dead peer, --timeout), so that the worker's next
   * wait for its device cannot hang on a failed peer. NULL: an exchange leaves nothing queued
   * that waits on others (the worker's own waits suffice). */
  int (*settle)(void *ctx, int worker, dpt_err *err);
  /* Frees what attach allocated, from the worker's own thread. */
  void (*detach)(void *ctx, int worker);
  void (*abort)(void *ctx, int code, const char *why);
  /* Bytes one worker sends plus receives in one exchange. */
  size_t (*bytes_per_step)(void *ctx);
  void (*destroy)(void *ctx);
  /* Copies the optimizer state (the momentum velocity, n_params floats) into host memory `out`
   * as of worker's last exchange, for checkpoints. Call from that worker's thread between its
   * exchanges: allreduce reads the worker's own copy; ps reads the server's, which no round can
   * change before this worker pushes again. */
  int (*read_velocity)(void *ctx, int worker, float *out, dpt_err *err);
  /* After every worker's last exchange of an epoch and a barrier: makes worker's replica (params
   * on its device) the shared parameters. NULL: the replicas never part (allreduce). */
  int (*adopt_shared)(void *ctx, int worker, float *params, dpt_err *err);
  /* With staleness (ps): worker leaves the run for good (dpt_ps_drop); NULL: not supported. */
  int (*drop)(void *ctx, int worker, uint64_t *pushes, dpt_err *err);
  /* With staleness (ps), for checkpoints: the server's consistent cut (dpt_ps_read_cut) into host
   * memory; NULL: not supported. */
  int (*read_cut)(void *ctx, float *params, float *velocity, uint64_t *clocks, dpt_err *err);
  /* The server's counts (ps only; NULL elsewhere). */
  void (*get_ps_stats)(void *ctx, dpt_ps_stats *out);
} dpt_sync_ops;

/* The strategies see only attached workers' calls: dpt_sync_* check the worker index and whether
 * it is attached (each worker thread writes only its own flag). */
typedef struct dpt_sync {
  const dpt_sync_ops *vt;
  void *ctx;
  int n_workers;
  bool *attached; /* n_workers flags */
} dpt_sync;

typedef struct dpt_sync_config {
  dpt_strategy strategy;
  dpt_device_kind device; /* the workers' devices: allreduce runs over NCCL on cuda */
  int n_workers;
  size_t n_params;
  int ps_shards;         /* ps only */
  int ps_threads;        /* ps only: server threads */
  float momentum;
  float weight_decay;
  double timeout_s;
  const float *init_params; /* host copy of the initial parameters (ps keeps the master copy) */
  dpt_ps_apply_hook ps_on_apply; /* ps only, optional: the server's per-shard work (--trace) */
  void *ps_on_apply_ctx;
  const float *init_velocity; /* host: optimizer state to start from (a checkpoint's); NULL: 0 */
  int staleness;         /* ps only: the consistency model (dpt_ps_config.staleness) */
  void (*on_late)(void *ctx, int worker, const char *why); /* ps with staleness (dpt/ps.h) */
  void *on_late_ctx;
  int ps_stop_after_dropped; /* ps with staleness: dpt_ps_config.stop_after_dropped */
  /* Under MPI (docs/mpi.md): the job's processes, each running n_workers workers, and this one's
   * rank; the exchange then sums over every process's workers. 0 or 1: this process alone. */
  int procs;
  int proc_rank;
} dpt_sync_config;

/* Creates the strategy with its communicator or server. */
int dpt_sync_create(const dpt_sync_config *cfg, dpt_sync *out, dpt_err *err);

int dpt_sync_attach(dpt_sync *s, int worker, dpt_device *dev, const float *params, float **grads,
                    dpt_err *err);
int dpt_sync_exchange(dpt_sync *s, int worker, float *params, float lr, const dpt_votes *mine,
                      dpt_votes *counts, const dpt_ledger_step *commit, bool settles,
                      dpt_sync_timing *timing, dpt_err *err);
int dpt_sync_settle(dpt_sync *s, int worker, dpt_err *err);
void dpt_sync_detach(dpt_sync *s, int worker);
void dpt_sync_abort(dpt_sync *s, int code, const char *why);
size_t dpt_sync_bytes_per_step(dpt_sync *s);
int dpt_sync_read_velocity(dpt_sync *s, int worker, float *out, dpt_err *err);
int dpt_sync_adopt_shared(dpt_sync *s, int worker, float *params, dpt_err *err);
/* Drops worker from the exchange for good, from any thread; *pushes: its exchanges applied. */
int dpt_sync_drop(dpt_sync *s, int worker, uint64_t *pushes, dpt_err *err);
/* The server's consistent cut (ps with staleness; dpt_ps_read_cut), from any thread. */
int dpt_sync_read_cut(dpt_sync *s, float *params, float *velocity, uint64_t *clocks,
                      dpt_err *err);
/* The server's counts into *out; false (and *out zeroed) for a strategy with no server. */
bool dpt_sync_ps_stats(const dpt_sync *s, dpt_ps_stats *out);
void dpt_sync_destroy(dpt_sync *s);

const char *dpt_strategy_name(dpt_strategy s);

#endif
