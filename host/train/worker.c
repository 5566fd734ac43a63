/* One worker thread: opens its device, holds a model replica, trains on its shard of every global
 * batch, and calls the gradient exchange without knowing which strategy runs. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dpt/hash.h"
#include "dpt/rng.h"
#include "dpt/timer.h"
#include "host/train/checkpoint_run.h"
#include "host/train/run.h"
#include "host/train/run_procs.h"
#include "host/train/step_guard.h"
#include "host/record/trace.h"

typedef struct worker {
  dpt_run *run;
  int w;
  dpt_device dev;
  bool dev_open, attached;
  dpt_mlp_replica rep;
  float *grads;        /* on dev: the exchange's, where the backward pass writes (dpt/sync.h) */
  float *stage_x;      /* host (pinned): rows gathered for this step */
  int32_t *stage_y;
  uint32_t *order;     /* this epoch's sample order, the same in every worker */
  dpt_worker_slot *slot;
  dpt_err err;
} worker;

void dpt_shard_rows(int batch_rows, int n, int w, int *offset, int *count)
{
  int base = batch_rows / n, extra = batch_rows % n;
  *count = base + (w < extra);
  *offset = w * base + (w < extra ? w : extra);
}

static int worker_setup(worker *k)
{
  dpt_run *run = k->run;
  int rc = dpt_device_open(run->device_kind, k->w, run->blas_threads, &k->dev, &k->err);
  if (rc) return rc;
  k->dev_open = true;
  size_t features = (size_t)run->shape.sizes[0];
  rc = dpt_mlp_replica_create(&k->dev, &run->shape, run->max_rows, run->init_params, &k->rep,
                              &k->err);
  if (!rc)
    rc = dpt_dev_host_alloc(&k->dev, (size_t)run->max_rows * features * sizeof(float),
                            (void **)&k->stage_x, &k->err);
  if (!rc)
    rc = dpt_dev_host_alloc(&k->dev, (size_t)run->max_rows * sizeof(int32_t),
                            (void **)&k->stage_y, &k->err);
  if (!rc) {
    k->order = malloc(run->train->count * sizeof *k->order);
    if (!k->order) rc = dpt_err_set(&k->err, DPT_ENOMEM, "worker %d: out of memory", k->w);
  }
  if (!rc && run->cfg->check_replicas) {
    k->slot->replica_copy = malloc(run->n_params * sizeof(float));
    if (!k->slot->replica_copy) rc = dpt_err_set(&k->err, DPT_ENOMEM, "out of memory");
  }
  if (!rc) rc = dpt_sync_attach(&run->sync, k->w, &k->dev, run->init_params, &k->grads, &k->err);
  if (!rc) k->attached = true;
  return rc;
}

static void worker_teardown(worker *k)
{
  if (k->attached) dpt_sync_detach(&k->run->sync, k->w);
  free(k->order);
  free(k->slot->replica_copy);
  k->slot->replica_copy = NULL;
  if (!k->dev_open) return;
  dpt_dev_host_free(&k->dev, k->stage_x);
  dpt_dev_host_free(&k->dev, k->stage_y);
  dpt_mlp_replica_destroy(&k->rep);
  dpt_device_close(&k->dev);
}

/* The epoch's sample order depends only on the seed and the epoch, so every worker derives the
 * same one without sharing it (and a resumed run can rebuild it). */
static void shuffle_epoch(worker *k, int epoch)
{
  size_t n = k->run->train->count;
  for (size_t i = 0; i < n; i++) k->order[i] = (uint32_t)i;
  dpt_rng rng;
  dpt_rng_seed(&rng, k->run->cfg->seed * 1000003ULL + (uint64_t)epoch);
  dpt_rng_shuffle_u32(&rng, k->order, n);
}

static int load_rows(worker *k, const dpt_dataset *ds, const uint32_t *order, size_t first,
                     int rows)
{
  size_t f = ds->features;
  for (int i = 0; i < rows; i++) {
    size_t idx = order ? order[first + (size_t)i] : first + (size_t)i;
    memcpy(k->stage_x + (size_t)i * f, ds->x + idx * f, f * sizeof(float));
    k->stage_y[i] = ds->y[idx];
  }
  return dpt_mlp_load_rows(&k->rep, rows, k->stage_x, k->stage_y, &k->err);
}

/* --check-replicas over MPI, worker 0 once its process's replicas are equal: every process
 * compares a hash of its replica with the other processes' hashes, and all fail alike. */
static int check_replicas_across(dpt_run *run, long step, dpt_err *err)
{
  if (run->procs == 1) return DPT_OK;
  uint64_t mine = dpt_hash_bytes(DPT_HASH_INIT, run->slots[0].replica_copy,
                                 run->n_params * sizeof(float));
  uint64_t first = 0, its = 0;
  int odd;
  int rc = dpt_run_procs_find_odd(run, mine, &odd, &first, &its, err);
  if (rc || odd < 0) return rc;
  return dpt_err_set(err, DPT_EINTERNAL,
                     "--check-replicas: after step %ld, process %d's replicas differ from process "
                     "0's (parameters hash %016llx, process 0's %016llx)",
                     step + 1, odd, (unsigned long long)its, (unsigned long long)first);
}

/* --check-replicas: every worker publishes its parameters; worker 0 compares them bit for bit,
 * then with the other processes'. Workers are named over every process, as DPT_FAULT names them. */
static int check_replicas(worker *k, long step)
{
  dpt_run *run = k->run;
  int rc = dpt_dev_copy_d2h(&k->dev, k->slot->replica_copy, k->rep.params,
                            run->n_params * sizeof(float), &k->err);
  if (!rc) rc = dpt_barrier_wait(&run->barrier, k->w, &k->err);
  for (int w = 1; w < run->workers && !rc && k->w == 0; w++) {
    const float *a = run->slots[0].replica_copy, *b = run->slots[w].replica_copy;
    if (memcmp(a, b, run->n_params * sizeof(float)) == 0) continue;
    size_t i = 0;
    while (memcmp(&a[i], &b[i], sizeof(float)) == 0) i++;
    rc = dpt_err_set(&k->err, DPT_EINTERNAL,
                     "--check-replicas: after step %ld, worker %d's parameter %zu is %.9g, "
                     "worker %d's is %.9g",
                     step + 1, run->first_worker + w, i, (double)b[i], run->first_worker,
                     (double)a[i]);
  }
  if (!rc && k->w == 0) rc = check_replicas_across(run, step, &k->err);
  return rc ? rc : dpt_barrier_wait(&run->barrier, k->w, &k->err);
}

/* 0-based, counted since training started. */
static long global_step_of(const dpt_run *run, int epoch, long step)
{
  return (long)(epoch - 1) * run->steps_per_epoch + step;
}

/* *outcome: what the exchange's votes decided (host/train/step_guard.h). */
static int train_step(worker *k, int epoch, long step, float *lr_out, dpt_step_outcome *outcome)
{
  dpt_run *run = k->run;
  const dpt_config *cfg = run->cfg;
  size_t n = run->train->count;
  size_t lo = (size_t)step * (size_t)cfg->batch;
  int batch_rows = (int)(n - lo < (size_t)cfg->batch ? n - lo : (size_t)cfg->batch);
  int off, rows;
  dpt_shard_rows(batch_rows, run->all_workers, run->first_worker + k->w, &off, &rows);

  double t0 = dpt_now();
  dpt_mlp_pass pass;
  int rc = load_rows(k, run->train, k->order, lo + (size_t)off, rows);
  if (!rc)
    rc = dpt_mlp_forward_backward(&k->rep, rows, 1.f / (float)batch_rows, k->grads, &pass,
                                  &k->err);
  if (!rc) rc = dpt_dev_sync(&k->dev, &k->err);
  double t1 = dpt_now();
  k->slot->compute_s += t1 - t0;
  if (rc) return rc;

  long global_step = global_step_of(run, epoch, step);
  float lr = dpt_schedule_lr(&cfg->schedule, global_step, run->steps_per_epoch, cfg->epochs);
  k->slot->step_loss[global_step % 2] = pass.loss_sum;
  dpt_votes votes = {0}, counts = {0};
  rc = dpt_guard_before_exchange(run, k->w, &k->dev, k->grads, epoch, step, &votes, &k->err);
  if (rc) return rc;
  dpt_sync_timing t = {0};
  rc = dpt_sync_exchange(&run->sync, k->w, k->rep.params, lr, &votes, &counts, &t, &k->err);
  if (run->trace) dpt_trace_step(run->trace, k->w, global_step + 1, t0, t1, dpt_now(), &t);
  k->slot->comm_s += t.comm_s;
  k->slot->wait_s += t.wait_s;
  if (!rc)
    rc = dpt_guard_after_exchange(run, k->w, &k->dev, k->rep.params, counts, epoch, step, outcome,
                                  &k->err);
  if (rc) return rc;
  if (!outcome->skipped) { /* a dropped step's figures go with it */
    k->slot->loss_sum += pass.loss_sum;
    k->slot->correct += pass.correct;
    k->slot->samples += rows;
  }
  *lr_out = lr;
  return cfg->check_replicas ? check_replicas(k, global_step) : DPT_OK;
}

/* Between two chunks of an evaluation (dpt_resilience.stop_evaluation). */
static bool evaluation_stopped(worker *k)
{
  dpt_resilience *r = &k->run->res;
  if (k->w == 0 && dpt_observer_stop_requested(k->run->obs))
    atomic_store(&r->stop_evaluation, true);
  return atomic_load(&r->stop_evaluation);
}

static int evaluate_slice(worker *k)
{
  dpt_run *run = k->run;
  int off, rows;
  dpt_shard_rows((int)run->test->count, run->all_workers, run->first_worker + k->w, &off, &rows);
  k->slot->test_loss_sum = 0;
  k->slot->test_correct = 0;
  for (int done = 0; done < rows && !evaluation_stopped(k);) {
    int chunk = rows - done < run->max_rows ? rows - done : run->max_rows;
    dpt_mlp_pass pass;
    int rc = load_rows(k, run->test, NULL, (size_t)(off + done), chunk);
    if (!rc) rc = dpt_mlp_forward(&k->rep, chunk, &pass, &k->err);
    if (rc) return rc;
    k->slot->test_loss_sum += pass.loss_sum;
    k->slot->test_correct += pass.correct;
    done += chunk;
  }
  return DPT_OK;
}

/* Worker 0, between barriers: sums the workers' figures in worker order, then over the MPI
 * processes (host/train/run_procs.h), and reports the epoch, whose training loop ran from first_step
 * (a resumed epoch's earlier steps ran before), unless a process cut its evaluation short. */
static int report_epoch(dpt_run *run, int epoch, long first_step, double train_time, float lr,
                        dpt_err *err)
{
  dpt_epoch_stats st = {.epoch = epoch, .epochs = run->cfg->epochs, .lr = lr,
                        .step = (long)epoch * run->steps_per_epoch, .workers = run->all_workers};
  double loss = 0, test_loss = 0;
  long correct = 0, samples = 0, test_correct = 0;
  for (int w = 0; w < run->workers; w++) {
    loss += run->slots[w].loss_sum;
    correct += run->slots[w].correct;
    samples += run->slots[w].samples;
    test_loss += run->slots[w].test_loss_sum;
    test_correct += run->slots[w].test_correct;
  }
  double cut = atomic_load(&run->res.stop_evaluation);
  double fig[] = {loss, (double)correct, (double)samples, test_loss, (double)test_correct, cut};
  int rc = dpt_run_procs_sum(run, fig, 6, err);
  if (rc) return rc;
  /* The epoch's training is over, even when its evaluation is cut: the next one counts anew. */
  st.skipped_steps = run->res.epoch_skipped_steps;
  run->res.epoch_skipped_steps = 0;
  if (fig[5] > 0) {
    run->res.evaluation_cut = true;
    run->res.stopped_after = st.step;
    return DPT_OK;
  }
  bool trained = fig[2] > 0; /* not when --on-nan skip dropped every step */
  st.train_loss = trained ? fig[0] / fig[2] : NAN;
  st.train_accuracy = trained ? fig[1] / fig[2] : NAN;
  st.test_loss = fig[3] / (double)run->test->count;
  st.test_accuracy = fig[4] / (double)run->test->count;
  long before = first_step * (long)run->cfg->batch; /* < count: first_step is not the last */
  st.samples_per_sec = (double)((long)run->train->count - before) / train_time;
  st.elapsed_s = dpt_now() - run->start_s;
  run->epoch_stats = st;
  if (run->obs && run->obs->on_epoch) run->obs->on_epoch(run->obs->ctx, &st);
  return DPT_OK;
}

/* Training samples of the epoch up to and including step. */
static long samples_through(const dpt_run *run, long step)
{
  long done = (step + 1) * (long)run->cfg->batch, n = (long)run->train->count;
  return done < n ? done : n;
}

/* Worker 0, after the exchange of step: the global batch's mean loss, summed in worker order,
 * then over the MPI processes (dpt_worker_slot.step_loss says why every slot's entry is written
 * and stable here). */
static int report_step(dpt_run *run, int epoch, long step, float lr, double epoch_elapsed_s,
                       dpt_err *err)
{
  long global_step = global_step_of(run, epoch, step);
  double loss = 0;
  for (int w = 0; w < run->workers; w++) loss += run->slots[w].step_loss[global_step % 2];
  int rc = dpt_run_procs_sum(run, &loss, 1, err);
  if (rc || !run->obs || !run->obs->on_step) return rc;
  long samples = samples_through(run, step);
  long batch_rows = samples - step * (long)run->cfg->batch;
  dpt_step_stats st = {.epoch = epoch, .epochs = run->cfg->epochs, .step_in_epoch = step + 1,
                       .steps_per_epoch = run->steps_per_epoch, .step = global_step + 1,
                       .workers = run->all_workers, .loss = loss / (double)batch_rows, .lr = lr,
                       .epoch_elapsed_s = epoch_elapsed_s, .samples_done = samples,
                       .elapsed_s = dpt_now() - run->start_s};
  run->obs->on_step(run->obs->ctx, &st);
  return DPT_OK;
}

/* Sets *stopped when every worker stops at a step boundary of this epoch: on request (after
 * saving a checkpoint when configured) or diverged (saving none); a stop after its last step still
 * ends the epoch first (a stop request cuts its evaluation short, dpt_resilience.evaluation_cut). */
static int run_epoch(worker *k, int epoch, bool *stopped)
{
  dpt_run *run = k->run;
  long first = epoch == run->res.start_epoch ? run->res.start_step : 0;
  if (first == 0) { /* a resumed epoch keeps the figures its checkpoint restored */
    k->slot->loss_sum = 0;
    k->slot->correct = 0;
    k->slot->samples = 0;
  }
  shuffle_epoch(k, epoch);
  int rc = dpt_barrier_wait(&run->barrier, k->w, &k->err);
  double t0 = dpt_now();
  float lr = 0;
  long step = first;
  dpt_step_outcome outcome = {0};
  for (; step < run->steps_per_epoch && !rc && !*stopped; step++) {
    rc = train_step(k, epoch, step, &lr, &outcome);
    if (!rc && k->w == 0) rc = report_step(run, epoch, step, lr, dpt_now() - t0, &k->err);
    if (!rc)
      rc = dpt_guard_step_boundary(run, k->w, &k->dev, k->rep.params, epoch, step, &outcome,
                                   &k->err);
    *stopped = outcome.stop || outcome.diverged;
  }
  if (rc || step < run->steps_per_epoch) return rc;
  rc = dpt_barrier_wait(&run->barrier, k->w, &k->err);
  double eval_t0 = dpt_now(), train_time = eval_t0 - t0;
  if (!rc && k->w == 0) run->train_s += train_time;
  if (!rc) rc = evaluate_slice(k);
  if (!rc && run->trace)
    dpt_trace_span(run->trace, k->w, DPT_SPAN_EVAL, eval_t0, dpt_now(),
                   (long)epoch * run->steps_per_epoch, -1);
  if (!rc) rc = dpt_barrier_wait(&run->barrier, k->w, &k->err);
  if (!rc && k->w == 0) rc = report_epoch(run, epoch, first, train_time, lr, &k->err);
  if (!rc && k->w == 0 && !outcome.diverged) /* a diverged state is not worth continuing */
    rc = dpt_checkpoint_save_run(run, &k->dev, k->rep.params, epoch + 1, 0, &k->err);
  if (!rc) rc = dpt_barrier_wait(&run->barrier, k->w, &k->err);
  if (!rc && run->res.evaluation_cut) *stopped = true; /* written before the barrier */
  return rc;
}

void dpt_worker_run(dpt_run *run, int w)
{
  worker k = {.run = run, .w = w, .slot = &run->slots[w]};
  int rc = worker_setup(&k);
  if (!rc) rc = dpt_barrier_wait(&run->barrier, w, &k.err);
  bool stopped = false;
  for (int epoch = run->res.start_epoch; epoch <= run->cfg->epochs && !rc && !stopped; epoch++)
    rc = run_epoch(&k, epoch, &stopped);
  if (!rc && w == 0)
    rc = dpt_dev_copy_d2h(&k.dev, run->final_params, k.rep.params, run->n_params * sizeof(float),
                          &k.err);
  if (rc) dpt_run_fail(run, w, &k.err);
  worker_teardown(&k);
}
