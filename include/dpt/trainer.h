/* A training run: loads the data, picks the device, starts one worker thread per device, runs the
 * epochs with the chosen gradient-exchange strategy, evaluates, and returns the figures a report
 * needs. Prints nothing: progress reaches the caller through the observer. */
#ifndef DPT_TRAINER_H
#define DPT_TRAINER_H

#include <stdint.h>

#include "dpt/config.h"
#include "dpt/status.h"

typedef struct dpt_epoch_stats {
  int epoch;            /* 1-based */
  int epochs;
  double train_loss;    /* mean over the epoch's samples */
  double train_accuracy;
  double test_loss;
  double test_accuracy;
  double lr;            /* at the epoch's last step */
  double samples_per_sec; /* training loop only */
  double elapsed_s;     /* since training started */
  long step;            /* steps done since training started */
  int workers;
  long skipped_steps;   /* steps of this epoch --on-nan skip dropped (train_loss and
                         * train_accuracy are NaN when it dropped them all) */
} dpt_epoch_stats;

typedef struct dpt_step_stats {
  int epoch;            /* 1-based */
  int epochs;
  long step_in_epoch;   /* 1-based */
  long steps_per_epoch;
  long step;            /* 1-based, counted since training started */
  int workers;
  double loss;          /* this step's mean loss over its global batch, summed in worker order */
  double lr;
  double epoch_elapsed_s; /* since the epoch's training loop started */
  long samples_done;    /* this epoch's training samples so far */
  double elapsed_s;     /* since training started */
  /* ps with staleness: how many pushes the slowest worker trailed worker 0 by when worker 0's
   * pull of this step copied the parameters (dpt_sync_timing.staleness); -1 otherwise. */
  long staleness;
} dpt_step_stats;

typedef struct dpt_observer {
  void *ctx;
  /* Called from one worker thread after every step; keep it cheap. */
  void (*on_step)(void *ctx, const dpt_step_stats *stats);
  void (*on_epoch)(void *ctx, const dpt_epoch_stats *stats);
  /* One-line notices, e.g. "no usable CUDA device (...): training on the CPU". */
  void (*on_notice)(void *ctx, const char *msg);
  /* The stop request (NULL: never stop), polled by one thread at a time: while the data loads
   * (before each read: the load ends, nothing trains), by worker 0 before each step's exchange
   * (every worker stops after the same step; the run saves a checkpoint when one is configured)
   * and between the chunks of an evaluation (it is cut short; the epoch's checkpoint is saved).
   * dpt_train then returns DPT_EINTERRUPTED. Once true it should stay true. Keep it cheap and
   * thread-safe (e.g. read a flag a signal handler sets). */
  bool (*should_stop)(void *ctx);
  /* The last resort (NULL: the run waits for its workers for ever): called, from the thread that
   * joins the workers, when the run has failed with a --timeout and a worker thread has not
   * returned within --timeout + DPT_STUCK_GRACE_S seconds of it, i.e. is stuck inside a device
   * call that cannot be stopped. It must end the process (err says why); what the stuck thread
   * holds cannot be freed. */
  void (*on_stuck)(void *ctx, const dpt_err *err);
} dpt_observer;

/* Seconds beyond --timeout that a failed run waits for its workers before on_stuck. */
#define DPT_STUCK_GRACE_S 5.0

/* obs may be NULL. */
static inline bool dpt_observer_stop_requested(const dpt_observer *obs)
{
  return obs && obs->should_stop && obs->should_stop(obs->ctx);
}

/* Room in a result for the workers' devices: a job of more GPUs lists its first ones. */
enum { DPT_RESULT_DEVICES_MAX = 1024 };

/* The device a worker trained on: its process and its CUDA ordinal on that process's node. */
typedef struct dpt_worker_device {
  int process;
  int ordinal;
} dpt_worker_device;

/* A CUDA run's work per training step on its busiest device (docs/gpu.md): means over the last
 * epoch's training steps, and the allocations after the run's first step. */
typedef struct dpt_cuda_figures {
  bool valid; /* a CUDA run that trained at least one step */
  double launches_per_step, host_waits_per_step, h2d_per_step, d2h_per_step;
  long allocs_after_first_step;
} dpt_cuda_figures;

typedef struct dpt_result {
  double test_accuracy;
  double final_train_loss;
  double train_samples_per_sec; /* training loop only: no loading, no evaluation */
  int epochs;
  int global_batch;
  int workers;                  /* over every MPI process */
  int procs;                    /* MPI processes (1: none), each with workers / procs of them */
  const char *strategy;
  const char *device;           /* "cpu" or "cuda" */
  int ps_shards;                /* 0 unless strategy is ps */
  int ps_threads;               /* server threads; 0 unless strategy is ps */
  size_t params;
  uint64_t params_hash;         /* FNV-1a of the final parameters' bytes */
  double wall_s;                /* the whole run, loading included */
  double train_s;               /* the training loop */
  int blas_threads;             /* per worker, CPU path; 0 on CUDA */
  char blas[64];                /* the GEMMs' library and kernel (dpt_blas_summary) */
  long steps;
  double time_compute_s, time_comm_s, time_wait_s; /* mean over workers */
  size_t bytes_per_step;        /* sent plus received by one worker per step */
  long skipped_steps;           /* steps dropped by --on-nan skip, over the whole run */
  double wait_fraction;         /* wait / (compute + comm + wait), mean over workers */
  int staleness;                /* ps: dpt_config.staleness; 0 elsewhere */
  uint64_t pushes_applied;      /* ps: pushes that stepped the parameters (this process's server) */
  uint64_t max_staleness;       /* ps: the largest staleness a pull saw (never above staleness) */
  int workers_lost;             /* ps with --on-worker-failure continue: workers that left */
  /* ps with staleness (docs/ps.md "Checkpoints with staleness"): the hash of the state (parameters,
   * then velocity: FNV-1a 64) of the last checkpoint saved and the epoch it continues in (0: none
   * saved), and with --resume that of the state the server started from, read back from it. */
  uint64_t checkpoint_state_hash;
  int checkpoint_epoch;
  uint64_t resumed_state_hash;
  /* --target-acc: the steps and seconds (since training started) at the end of the first epoch
   * whose test accuracy reached it; -1 and NAN when none did or no target was set. */
  long steps_to_target;
  double seconds_to_target;
  /* One process: the training samples each worker trained on over the run (the first
   * DPT_RESULT_DEVICES_MAX); with --staleness inf fast workers take more. 0 entries under MPI. */
  int n_worker_samples;
  long worker_samples[DPT_RESULT_DEVICES_MAX];
  int hidden[DPT_MAX_LAYERS - 1];
  int n_hidden;
  char model[DPT_MODEL_TEXT_MAX]; /* the model as run, canonical (dpt_mlp_shape_text) */
  double flops_per_sample;       /* of one sample's forward pass (dpt_mlp_flops_per_sample) */
  int features, classes;
  long train_samples, test_samples;
  /* CUDA: each worker's device, in global worker order (the first DPT_RESULT_DEVICES_MAX);
   * n_devices 0 on the CPU. */
  int n_devices;
  dpt_worker_device devices[DPT_RESULT_DEVICES_MAX];
  dpt_cuda_figures cuda; /* this process's workers */
} dpt_result;

int dpt_train(const dpt_config *cfg, const dpt_observer *obs, dpt_result *out, dpt_err *err);

#endif
