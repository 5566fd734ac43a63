/* Everything a training run is configured with: filled by the CLI (host/cli/cli.c), read by the
 * trainer. Defaults come from dpt_config_defaults. */
#ifndef DPT_CONFIG_H
#define DPT_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "dpt/mlp.h"
#include "dpt/sync.h"

#define DPT_DEFAULT_DATA_DIR "/usr/share/datasets/fashion-mnist"

typedef enum { DPT_DEVICE_SELECT_AUTO = 0, DPT_DEVICE_SELECT_CPU, DPT_DEVICE_SELECT_CUDA } dpt_device_select;

typedef enum { DPT_LR_COSINE = 0, DPT_LR_STEP, DPT_LR_CONSTANT } dpt_lr_decay;

/* What a step whose gradient holds NaN or Inf does: stop the run naming the worker and the step,
 * or be dropped on every worker (parameters and optimizer state unchanged) and counted. */
typedef enum { DPT_ON_NAN_STOP = 0, DPT_ON_NAN_SKIP } dpt_on_nan;

/* What a worker that fails or times out during training does to the run: stop it, or (ps with
 * --staleness >= 1 only) leave it, the others training on (docs/ps.md "Failing workers"). */
typedef enum { DPT_ON_FAILURE_STOP = 0, DPT_ON_FAILURE_CONTINUE } dpt_on_failure;

typedef struct dpt_schedule {
  float base_lr;
  float warmup_epochs;  /* linear ramp up to base_lr over these epochs (0: none) */
  dpt_lr_decay decay;
  int step_epochs;      /* step decay: multiply by gamma every step_epochs epochs */
  float gamma;
} dpt_schedule;

typedef struct dpt_config {
  const char *data_dir;
  const char *model;      /* --model SPEC (dpt_model_spec_parse): "mlp" uses hidden */
  int hidden[DPT_MAX_LAYERS - 1];
  int n_hidden;
  int epochs;
  int batch;              /* global batch, split over the workers */
  dpt_schedule schedule;
  float momentum;
  float weight_decay;
  uint64_t seed;
  const char *report_path;
  bool quiet;
  int workers;            /* 0 = auto: every GPU on cuda, every core on cpu */
  dpt_strategy strategy;
  int ps_shards;          /* 0 = the default, 1 */
  int ps_threads;         /* parameter-server threads; 0 = the default (host/train/trainer.c) */
  int staleness;          /* --strategy ps: 0 synchronous rounds; S >= 1 bounded staleness;
                           * DPT_PS_STALENESS_INF asynchronous (dpt/ps.h, docs/ps.md) */
  const char *straggler;  /* --straggler SPEC (host/train/straggler.h); NULL: none */
  double target_acc;      /* the report's time to this test accuracy; 0: none */
  dpt_on_failure on_worker_failure;
  dpt_device_select device;
  bool check_replicas;
  double timeout_s;       /* bound on every collective / server round wait */
  const char *checkpoint_path; /* saved at every epoch's end (and every checkpoint_every steps) */
  long checkpoint_every;  /* also save after every N steps (0: epoch ends only) */
  const char *resume_path; /* continue from this checkpoint up to `epochs` in all */
  dpt_on_nan on_nan;
  int max_skips;          /* --on-nan skip: more steps than this skipped in a row end the run as
                           * diverged (host/train/step_guard.h) */
  const char *metrics_path; /* CSV of step and epoch figures (host/record/metrics.h); NULL: none */
  int metrics_every;      /* a step row every N steps */
  const char *trace_path; /* Chrome trace of the first steps (host/record/trace.h); NULL: none */
  int trace_steps;        /* steps traced: bounds the trace's memory */
  /* Set by main under an MPI launcher (docs/mpi.md): this is process proc_rank of procs, each
   * running `workers` workers on its share of every global batch. 0 or 1: one process. */
  int procs;
  int proc_rank;
  /* Set by main too: this process is local_rank of the local_procs processes on its node, which
   * share its GPUs: its worker w uses CUDA device local_rank x workers + w. 0 or 1: alone. */
  int local_procs;
  int local_rank;
} dpt_config;

void dpt_config_defaults(dpt_config *cfg);

/* Learning rate at global step `step` (0-based) of a run with steps_per_epoch steps per epoch. */
float dpt_schedule_lr(const dpt_schedule *s, long step, long steps_per_epoch, int epochs);

#endif
