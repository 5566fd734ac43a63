/* The run: device choice, data, workers, strategy; joins the workers and fills the result. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dpt/cores.h"
#include "dpt/hash.h"
#include "dpt/timer.h"
#include "dpt/trainer.h"
#include "host/checkpoint/checkpoint_lock.h"
#include "host/train/load_data.h"
#include "host/train/piece_queue.h"
#include "host/train/run.h"
#include "host/train/run_memory.h"
#include "host/train/run_procs.h"
#include "host/train/run_totals.h"
#include "host/train/stale_checkpoint.h"
#include "host/train/worker_join.h"
#include "host/record/trace.h"

static void notice(const dpt_observer *obs, const char *msg)
{
  if (obs && obs->on_notice) obs->on_notice(obs->ctx, msg);
}

/* --device and --workers against what this machine has. */
static int choose_device(const dpt_config *cfg, const dpt_observer *obs, dpt_run *run,
                         dpt_err *err)
{
  int gpus = 0;
  dpt_err why = {0};
  if (cfg->device != DPT_DEVICE_SELECT_CPU) dpt_cuda_device_count(&gpus, &why);
  if (cfg->device == DPT_DEVICE_SELECT_CUDA && gpus == 0)
    return dpt_err_set(err, DPT_EINPUT, "--device cuda: no usable CUDA device (%s)", why.msg);
  if (cfg->device == DPT_DEVICE_SELECT_AUTO && gpus == 0) {
    char msg[DPT_ERR_MSG_MAX + 64];
    snprintf(msg, sizeof msg, "no usable CUDA device (%s): training on the CPU", why.msg);
    notice(obs, msg);
  }
  run->device_kind = gpus > 0 ? DPT_DEVICE_CUDA : DPT_DEVICE_CPU;
  int cores = dpt_cores_online();
  /* The node's processes share its GPUs: process L's worker w uses device L x workers + w. */
  int here = cfg->local_procs > 1 ? cfg->local_procs : 1;
  run->workers = cfg->workers > 0 ? cfg->workers : (gpus > 0 ? gpus / here : cores);
  const char *cpu_hint = cfg->device == DPT_DEVICE_SELECT_AUTO ? " (--device cpu trains on the CPU)" : "";
  if (run->device_kind == DPT_DEVICE_CUDA && run->workers == 0)
    return dpt_err_set(err, DPT_EINPUT,
                       "--workers auto: %d processes on this node share %d CUDA device(s): "
                       "fewer than one each%s",
                       here, gpus, cpu_hint);
  if (run->device_kind == DPT_DEVICE_CUDA && here == 1 && run->workers > gpus)
    return dpt_err_set(err, DPT_EINPUT, "--workers %d: only %d CUDA device(s) here%s",
                       run->workers, gpus, cpu_hint);
  if (run->device_kind == DPT_DEVICE_CUDA && (long)here * run->workers > gpus)
    return dpt_err_set(err, DPT_EINPUT,
                       "--workers %d: %d processes on this node x %d workers need %ld CUDA "
                       "devices, %d here%s",
                       run->workers, here, run->workers, (long)here * run->workers, gpus, cpu_hint);
  run->first_ordinal =
      run->device_kind == DPT_DEVICE_CUDA && here > 1 ? cfg->local_rank * run->workers : 0;
  /* Workers sharing the CPU each get one BLAS thread: no oversubscription. */
  run->blas_threads = run->device_kind == DPT_DEVICE_CUDA ? 0
                      : run->workers == 1               ? cores
                                                        : 1;
  return DPT_OK;
}

/* Starts the workers, waits for them; the first error (if any) lands in run->err. */
static int run_workers(dpt_run *run, dpt_err *err)
{
  dpt_worker_thread *threads = calloc((size_t)run->workers, sizeof *threads);
  if (!threads) return dpt_err_set(err, DPT_ENOMEM, "trainer: out of memory");
  dpt_worker_threads_join(run, threads, dpt_worker_threads_start(run, threads));
  free(threads);
  if (run->err.code) return dpt_err_set(err, run->err.code, "%s", run->err.msg);
  return DPT_OK;
}

static void fill_result(const dpt_config *cfg, const dpt_run *run, size_t bytes_per_step,
                        dpt_result *out)
{
  memset(out, 0, sizeof *out);
  out->bytes_per_step = bytes_per_step;
  out->test_accuracy = run->epoch_stats.test_accuracy;
  out->final_train_loss = run->epoch_stats.train_loss;
  out->train_s = run->train_s;
  out->steps = dpt_run_total_steps(run);
  long trained = (long)run->train->count * cfg->epochs - dpt_resilience_samples_before_start(run);
  out->train_samples_per_sec = (double)trained / run->train_s;
  out->skipped_steps = run->resilience.skipped_steps;
  out->epochs = cfg->epochs;
  out->global_batch = cfg->batch;
  out->workers = run->all_workers;
  out->procs = run->procs;
  out->strategy = dpt_strategy_name(cfg->strategy);
  out->device = run->device_kind == DPT_DEVICE_CUDA ? "cuda" : "cpu";
  out->ps_shards = cfg->strategy == DPT_STRATEGY_PS ? run->ps_shards : 0;
  out->ps_threads = cfg->strategy == DPT_STRATEGY_PS ? run->ps_threads : 0;
  out->params = run->n_params;
  out->params_hash = dpt_hash_bytes(DPT_HASH_INIT, run->final_params, run->n_params * sizeof(float));
  out->blas_threads = run->blas_threads;
  dpt_blas_summary(run->device_kind, out->blas, sizeof out->blas);
  for (int w = 0; w < run->workers; w++) {
    const dpt_worker_slot *slot = &run->slots[w];
    out->time_compute_s += slot->compute_s / run->workers;
    out->time_comm_s += slot->comm_s / run->workers;
    out->time_wait_s += slot->wait_s / run->workers;
    double busy = slot->compute_s + slot->comm_s + slot->wait_s;
    out->wait_fraction += (busy > 0 ? slot->wait_s / busy : 0) / run->workers;
  }
  out->staleness = cfg->strategy == DPT_STRATEGY_PS ? cfg->staleness : 0;
  dpt_ps_stats ps;
  if (dpt_sync_ps_stats(&run->sync, &ps)) {
    out->pushes_applied = ps.pushes_applied;
    out->max_staleness = ps.max_staleness;
    out->workers_lost = ps.workers_dropped;
    out->checkpoint_state_hash = run->resilience.saved_state_hash;
    out->checkpoint_epoch = run->resilience.saved_epoch;
    out->resumed_state_hash = run->resilience.resumed_state_hash;
  }
  for (int g = 0; g < run->all_workers && g < DPT_RESULT_DEVICES_MAX; g++)
    out->worker_samples[out->n_worker_samples++] =
        run->all_samples ? run->all_samples[g] : run->slots[g].run_samples;
  out->steps_to_target = run->steps_to_target;
  out->seconds_to_target = run->seconds_to_target;
  out->n_hidden = cfg->n_hidden;
  memcpy(out->hidden, cfg->hidden, sizeof out->hidden);
  dpt_mlp_shape_text(&run->shape, out->model, sizeof out->model);
  out->flops_per_sample = dpt_mlp_flops_per_sample(&run->shape);
  out->features = run->shape.sizes[0];
  out->classes = run->shape.sizes[run->shape.n_layers];
  out->train_samples = (long)run->train->count;
  out->test_samples = (long)run->test->count;
  for (int w = 0; w < run->workers; w++) dpt_step_counts_add(&run->slots[w].counts, &out->cuda);
  for (int g = 0; run->device_kind == DPT_DEVICE_CUDA && g < run->all_workers &&
                  g < DPT_RESULT_DEVICES_MAX;
       g++) {
    int p = g / run->workers;
    out->devices[out->n_devices++] = (dpt_worker_device){
        .process = p, .ordinal = dpt_run_procs_first_ordinal(run, p) + g % run->workers};
  }
}

/* --trace: every span buffer is allocated before a thread starts; ps adds the server's hook. */
static int start_trace(const dpt_config *cfg, dpt_run *run, dpt_sync_config *sc, dpt_err *err)
{
  bool ps = cfg->strategy == DPT_STRATEGY_PS;
  /* A resumed run traces its own first steps. */
  long first = dpt_run_step_index(run, run->resilience.start_epoch, run->resilience.start_step);
  dpt_trace_config tc = {.workers = run->workers, .strategy = cfg->strategy,
                         .ps_shards = ps ? run->ps_shards : 0,
                         .ps_per_push = ps && cfg->staleness > 0, .steps_before = first,
                         .max_steps = cfg->trace_steps,
                         .total_steps = dpt_run_total_steps(run), .origin_s = dpt_now()};
  int rc = dpt_trace_create(&tc, &run->trace, err);
  if (!rc && ps) {
    sc->ps_on_apply = dpt_trace_server_apply;
    sc->ps_on_apply_ctx = run->trace;
  }
  return rc;
}

/* --model on the data: an IDX image set of rank 3 is 1 channel of H x W, rank 4 H x W x C;
 * anything else is a vector of features. */
static int make_model(const dpt_config *cfg, const dpt_data_plan *plan, dpt_mlp_shape *out,
                      dpt_err *err)
{
  int c = (int)plan->features, h = 1, w = 1;
  if (plan->rank == 2 || plan->rank == 3) {
    h = (int)plan->shape[0];
    w = (int)plan->shape[1];
    c = plan->rank == 3 ? (int)plan->shape[2] : 1;
  }
  dpt_model_spec spec;
  int rc = dpt_model_spec_parse(cfg->model, cfg->hidden, cfg->n_hidden, &spec, err);
  return rc ? rc : dpt_mlp_shape_build(&spec, c, h, w, plan->classes, out, err);
}

/* Once the data's headers and labels are read, before their payloads: the device, the workers and
 * the model, and whether all of them fit in memory (dpt_data_options.check_plan). */
static int plan_run(void *ctx, const dpt_data_plan *plan, dpt_err *err)
{
  dpt_run *run = ctx;
  const dpt_config *cfg = run->cfg;
  if (plan->features > INT_MAX)
    return dpt_err_set(err, DPT_EINPUT, "%s: %zu features per sample: the model takes at most %d",
                       plan->train_images, plan->features, INT_MAX);
  int rc = choose_device(cfg, run->obs, run, err);
  if (!rc) rc = make_model(cfg, plan, &run->shape, err);
  return rc ? rc : dpt_run_memory_check(run, plan, err);
}

/* The rows a GPU replica holds: evaluation runs in chunks of up to EVAL_ROWS (a few large GEMMs,
 * not many small launches), fewer for a model so wide that a chunk's activations would pass
 * EVAL_FLOATS, and never fewer than a worker's share of a training batch. A CPU replica keeps
 * the training shard's rows: OpenBLAS gains little from larger chunks, and would thread them. */
static int eval_rows(const dpt_mlp_shape *s, int max_rows)
{
  enum { EVAL_ROWS = 2048, EVAL_FLOATS = 16 << 20 };
  long width = 0;
  for (int l = 0; l <= s->n_layers; l++) width += s->sizes[l];
  long rows = EVAL_FLOATS / (width > 0 ? width : 1);
  if (rows > EVAL_ROWS) rows = EVAL_ROWS;
  return rows > max_rows ? (int)rows : max_rows;
}

/* --staleness and --straggler, once the workers of every process are known. */
static int plan_consistency(const dpt_config *cfg, dpt_run *run, dpt_err *err)
{
  if (cfg->on_worker_failure == DPT_ON_FAILURE_CONTINUE && run->procs > 1)
    return dpt_err_set(err, DPT_EINPUT,
                       "--on-worker-failure continue: not supported under MPI (%d processes): a "
                       "worker of another process cannot leave the run",
                       run->procs);
  run->queued = cfg->staleness == DPT_PS_STALENESS_INF;
  if (!cfg->straggler) return DPT_OK;
  int rc = dpt_stragglers_parse(cfg->straggler, &run->stragglers, err);
  int top = rc ? -1 : dpt_stragglers_top_worker(&run->stragglers);
  if (top >= run->all_workers)
    return dpt_err_set(err, DPT_EINPUT, "--straggler %s: worker %d does not exist (workers 0..%d)",
                       cfg->straggler, top, run->all_workers - 1);
  return rc;
}

/* --on-worker-failure continue: a worker the server or the barrier timed out waiting for. */
static void lose_late_worker(void *ctx, int worker, const char *why)
{
  dpt_err err = {.code = DPT_ETIMEOUT};
  snprintf(err.msg, sizeof err.msg, "%s", why);
  dpt_run_lose_worker(ctx, worker, &err);
}

/* Everything between loaded data (and the run plan_run made) and joined workers. */
static int train_loaded(const dpt_config *cfg, dpt_run *run, dpt_result *out, dpt_err *err)
{
  /* The last point where a stop needs no step: nothing has been trained. */
  int rc = dpt_run_procs_setup(run, dpt_observer_stop_requested(run->obs), err);
  if (rc) return rc;
  run->n_params = dpt_mlp_param_count(&run->shape);
  /* One shard by default: more shards pay off only when many workers push at once (docs/ps.md). */
  run->ps_shards = cfg->ps_shards > 0 ? cfg->ps_shards : 1;
  run->ps_threads = dpt_ps_server_threads(cfg->ps_threads);
  if (cfg->strategy == DPT_STRATEGY_PS && (size_t)run->ps_shards > run->n_params)
    return dpt_err_set(err, DPT_EINPUT, "--ps-shards %d: must be between 1 and %zu (the parameters)",
                       run->ps_shards, run->n_params);
  if (!rc) rc = plan_consistency(cfg, run, err);
  if (rc) return rc;
  run->max_rows = (cfg->batch + run->all_workers - 1) / run->all_workers;
  run->replica_rows = run->device_kind == DPT_DEVICE_CPU ? run->max_rows
                                                        : eval_rows(&run->shape, run->max_rows);
  run->steps_per_epoch = (long)((run->train->count + (size_t)cfg->batch - 1) / (size_t)cfg->batch);
  /* Reading a GPU's ledger waits for the device: once every --metrics-every steps, when a step's
   * loss is summed (whether this process writes the rows or not: every process sums it). With
   * staleness each worker reads its own after every step: the workers meet at no read point, a
   * queued worker may never run an epoch's last step, and its exchange waits for its gradient's
   * copy anyway. */
  run->read_every =
      run->device_kind == DPT_DEVICE_CPU || cfg->staleness != 0 ? 1 : cfg->metrics_every;

  float *init = malloc(run->n_params * sizeof(float));
  run->final_params = malloc(run->n_params * sizeof(float));
  run->slots = dpt_cache_lines_alloc((size_t)run->workers, sizeof *run->slots);
  run->returned = malloc((size_t)run->workers * sizeof *run->returned);
  if (!init || !run->final_params || !run->slots || !run->returned) {
    free(init);
    return dpt_err_set(err, DPT_ENOMEM, "trainer: out of memory for %zu parameters", run->n_params);
  }
  dpt_mlp_init_params(&run->shape, cfg->seed, init);
  run->init_params = init;
  for (int w = 0; w < run->workers; w++) run->slots[w].piece = -1;

  dpt_sync_config sc = {.strategy = cfg->strategy, .device = run->device_kind,
                        .n_workers = run->workers,
                        .n_params = run->n_params, .ps_shards = run->ps_shards,
                        .ps_threads = run->ps_threads,
                        .momentum = cfg->momentum, .weight_decay = cfg->weight_decay,
                        .timeout_s = cfg->timeout_s, .init_params = init,
                        .procs = run->procs, .proc_rank = run->proc_rank,
                        .staleness = cfg->staleness,
                        /* A worker past --max-skips stops them all (docs/ps.md, NaN and Inf). */
                        .ps_stop_after_dropped =
                            cfg->on_nan == DPT_ON_NAN_SKIP ? cfg->max_skips + 1 : 0};
  bool may_lose = cfg->on_worker_failure == DPT_ON_FAILURE_CONTINUE;
  if (may_lose) {
    sc.on_late = lose_late_worker;
    sc.on_late_ctx = run;
  }
  rc = dpt_resilience_setup(run, init, &sc, err);
  if (!rc && cfg->trace_path) rc = start_trace(cfg, run, &sc, err);
  if (!rc) rc = dpt_sync_create(&sc, &run->sync, err);
  if (!rc) {
    /* Process 0 holds the server; the broadcast keeps every process's first push after the
     * read (the others' workers start meanwhile). */
    uint64_t *resumed = &run->resilience.resumed_state_hash;
    if (cfg->staleness > 0 && cfg->resume_path && run->proc_rank == 0)
      rc = dpt_stale_resumed_state(run, resumed, err);
    if (!rc && cfg->staleness > 0 && cfg->resume_path)
      rc = dpt_run_procs_bcast(run, resumed, sizeof *resumed, err);
    if (!rc) rc = dpt_piece_queue_open(run, &run->pieces, err);
    if (!rc) rc = dpt_barrier_init(&run->barrier, run->workers, cfg->timeout_s, err);
    if (!rc) {
      dpt_barrier_name_from(&run->barrier, run->first_worker);
      if (may_lose) dpt_barrier_on_timeout(&run->barrier, lose_late_worker, run);
      run->start_s = dpt_now();
      rc = run_workers(run, err);
      if (!rc) rc = dpt_run_totals_gather(run, err);
      if (!rc) rc = dpt_resilience_finish(run, err);
      dpt_barrier_destroy(&run->barrier);
    }
    if (!rc) fill_result(cfg, run, dpt_sync_bytes_per_step(&run->sync), out);
    dpt_sync_destroy(&run->sync); /* joins the server threads: their spans are complete */
    dpt_piece_queue_close(run->pieces); /* after the ps's channel, in the same order everywhere */
    run->pieces = NULL;
    if (!rc && run->trace) rc = dpt_trace_write(run->trace, cfg->trace_path, err);
  }
  free(init);
  return rc;
}

/* The checkpoint's lock for the whole run, taken before anything else (host/checkpoint/
 * checkpoint_lock.h); over MPI process 0 alone writes the checkpoint, so it alone locks. */
static int lock_checkpoint(const dpt_config *cfg, dpt_checkpoint_lock *lock, dpt_err *err)
{
  *lock = (dpt_checkpoint_lock){.fd = -1};
  if (!cfg->checkpoint_path || cfg->proc_rank > 0) return DPT_OK;
  return dpt_checkpoint_lock_take(cfg->checkpoint_path, lock, err);
}

int dpt_train(const dpt_config *cfg, const dpt_observer *obs, dpt_result *out, dpt_err *err)
{
  double t0 = dpt_now();
  dpt_checkpoint_lock lock;
  int rc = lock_checkpoint(cfg, &lock, err);
  if (rc) return rc;
  dpt_dataset train = {0}, test = {0};
  dpt_run run = {.cfg = cfg, .obs = obs, .train = &train, .test = &test, .steps_to_target = -1,
                 .seconds_to_target = NAN};
  rc = dpt_fault_from_env(&run.resilience.fault, err); /* first: a hook slows the loading down */
  if (!rc) rc = dpt_run_load_data(&run, plan_run, &train, &test, err);
  if (rc) {
    dpt_checkpoint_lock_release(&lock);
    return rc;
  }
  pthread_mutex_init(&run.err_mu, NULL);
  pthread_mutex_init(&run.queue_mu, NULL);
  pthread_mutex_init(&run.lose_mu, NULL);
  pthread_mutex_init(&run.resilience.skip_mu, NULL);
  rc = train_loaded(cfg, &run, out, err);
  dpt_run_procs_close(&run); /* after the strategy's channels, in the same order everywhere */
  pthread_mutex_destroy(&run.err_mu);
  pthread_mutex_destroy(&run.queue_mu);
  pthread_mutex_destroy(&run.lose_mu);
  pthread_mutex_destroy(&run.resilience.skip_mu);
  free(run.final_params);
  free(run.slots);
  free(run.returned);
  free(run.all_samples);
  dpt_trace_destroy(run.trace);
  dpt_resilience_release(&run);
  dpt_dataset_free(&train);
  dpt_dataset_free(&test);
  dpt_checkpoint_lock_release(&lock);
  if (!rc) out->wall_s = dpt_now() - t0;
  return rc;
}
