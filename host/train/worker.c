/* One worker thread: opens its device, holds a model replica, trains on its shard of every global
 * batch, and calls the gradient exchange without knowing which strategy runs. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dpt/hash.h"
#include "dpt/rng.h"
#include "dpt/timer.h"
#include "host/train/checkpoint_run.h"
#include "host/train/piece_queue.h"
#include "host/train/run.h"
#include "host/train/run_procs.h"
#include "host/train/step_guard.h"
#include "host/record/trace.h"

/* One worker thread's own state (`self` below): only that thread touches it. */
typedef struct worker {
  dpt_run *run;
  int w;
  dpt_device dev;
  bool dev_open, attached;
  dpt_mlp_replica rep;
  float *grads;        /* on dev: the exchange's, where the backward pass writes (dpt/sync.h) */
  dpt_ledger *ledger;  /* on dev: this worker's running figures (dpt/ledger.h) */
  dpt_ledger *seen;    /* host (pinned): the ledger as last read, or about to be uploaded */
  /* host (pinned): rows gathered for a pass, two sets used in turn (loads counts them): a set's
   * copies from the pass before last are done when it is filled again, since an exchange returns
   * only once the one before it is done, and an evaluation chunk waits for its own pass. */
  float *stage_x[2];
  int32_t *stage_y[2];
  long loads;
  uint32_t *order;     /* this epoch's sample order, the same in every worker */
  int step_rows;       /* rows of this worker's last step */
  long loop_steps;     /* steps of this epoch's training loop so far */
  dpt_worker_slot *slot;
  dpt_err err;
} worker;

void dpt_shard_rows(int batch_rows, int n, int w, int *offset, int *count)
{
  int base = batch_rows / n, extra = batch_rows % n;
  *count = base + (w < extra);
  *offset = w * base + (w < extra ? w : extra);
}

static int worker_setup(worker *self)
{
  dpt_run *run = self->run;
  dpt_device_options opts = {.blas_threads = run->blas_threads, .wait_s = run->cfg->timeout_s,
                             .max_rows = run->max_rows};
  int rc = dpt_device_open_with(run->device_kind, run->first_ordinal + self->w, &opts, &self->dev,
                                &self->err);
  if (rc) return rc;
  self->dev_open = true;
  size_t features = (size_t)run->shape.sizes[0];
  rc = dpt_mlp_replica_create(&self->dev, &run->shape, run->replica_rows, run->init_params,
                              &self->rep, &self->err);
  for (int i = 0; i < 2 && !rc; i++) {
    rc = dpt_dev_host_alloc(&self->dev, (size_t)run->replica_rows * features * sizeof(float),
                            (void **)&self->stage_x[i], &self->err);
    if (!rc)
      rc = dpt_dev_host_alloc(&self->dev, (size_t)run->replica_rows * sizeof(int32_t),
                              (void **)&self->stage_y[i], &self->err);
  }
  if (!rc) rc = dpt_dev_alloc(&self->dev, sizeof *self->ledger, (void **)&self->ledger, &self->err);
  if (!rc)
    rc = dpt_dev_host_alloc(&self->dev, sizeof *self->seen, (void **)&self->seen, &self->err);
  if (!rc) *self->seen = (dpt_ledger){.in_a_row = (double)self->slot->skips_in_a_row};
  if (!rc) {
    self->order = malloc(run->train->count * sizeof *self->order);
    if (!self->order) rc = dpt_err_set(&self->err, DPT_ENOMEM, "worker %d: out of memory", self->w);
  }
  if (!rc && run->cfg->check_replicas) {
    self->slot->replica_copy = malloc(run->n_params * sizeof(float));
    if (!self->slot->replica_copy) rc = dpt_err_set(&self->err, DPT_ENOMEM, "out of memory");
  }
  if (!rc)
    rc = dpt_sync_attach(&run->sync, self->w, &self->dev, run->init_params, &self->grads,
                         &self->err);
  if (!rc) self->attached = true;
  return rc;
}

static void worker_teardown(worker *self)
{
  if (self->attached) dpt_sync_detach(&self->run->sync, self->w);
  free(self->order);
  free(self->slot->replica_copy);
  self->slot->replica_copy = NULL;
  if (!self->dev_open) return;
  for (int i = 0; i < 2; i++) {
    dpt_dev_host_free(&self->dev, self->stage_x[i]);
    dpt_dev_host_free(&self->dev, self->stage_y[i]);
  }
  dpt_dev_free(&self->dev, self->ledger);
  dpt_dev_host_free(&self->dev, self->seen);
  dpt_mlp_replica_destroy(&self->rep);
  dpt_device_close(&self->dev);
}

/* The epoch's sample order depends only on the seed and the epoch, so every worker derives the
 * same one without sharing it (and a resumed run can rebuild it). */
static void shuffle_epoch(worker *self, int epoch)
{
  size_t n = self->run->train->count;
  for (size_t i = 0; i < n; i++) self->order[i] = (uint32_t)i;
  dpt_rng rng;
  dpt_rng_seed(&rng, self->run->cfg->seed * 1000003ULL + (uint64_t)epoch);
  dpt_rng_shuffle_u32(&rng, self->order, n);
}

static int load_rows(worker *self, const dpt_dataset *ds, const uint32_t *order, size_t first,
                     int rows)
{
  size_t f = ds->features;
  int set = (int)(self->loads++ % 2);
  float *x = self->stage_x[set];
  int32_t *y = self->stage_y[set];
  for (int i = 0; i < rows; i++) {
    size_t idx = order ? order[first + (size_t)i] : first + (size_t)i;
    memcpy(x + (size_t)i * f, ds->x + idx * f, f * sizeof(float));
    y[i] = ds->y[idx];
  }
  return dpt_mlp_load_rows(&self->rep, rows, x, y, &self->err);
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
static int check_replicas(worker *self, long step)
{
  dpt_run *run = self->run;
  int rc = dpt_dev_copy_d2h(&self->dev, self->slot->replica_copy, self->rep.params,
                            run->n_params * sizeof(float), &self->err);
  if (!rc) rc = dpt_barrier_wait(&run->barrier, self->w, &self->err);
  for (int w = 1; w < run->workers && !rc && self->w == 0; w++) {
    if (dpt_run_worker_lost(run, w)) continue; /* its thread frees its copy as it leaves */
    const float *a = run->slots[0].replica_copy, *b = run->slots[w].replica_copy;
    if (memcmp(a, b, run->n_params * sizeof(float)) == 0) continue;
    size_t i = 0;
    while (memcmp(&a[i], &b[i], sizeof(float)) == 0) i++;
    rc = dpt_err_set(&self->err, DPT_EINTERNAL,
                     "--check-replicas: after step %ld, worker %d's parameter %zu is %.9g, "
                     "worker %d's is %.9g",
                     step + 1, run->first_worker + w, i, (double)b[i], run->first_worker,
                     (double)a[i]);
  }
  if (!rc && self->w == 0) rc = check_replicas_across(run, step, &self->err);
  return rc ? rc : dpt_barrier_wait(&run->barrier, self->w, &self->err);
}

/* --straggler: a straggling step's compute, from t0, is made `factor` times as long. It waits for
 * the device to measure the compute (a step that does not straggle leaves it queued); *t1: when
 * the compute ended. */
static int straggle(worker *self, long global_step, int share, double t0, double *t1)
{
  dpt_run *run = self->run;
  /* Queued pieces draw one by one: a step's pieces may run on any worker. */
  long draw = run->queued ? global_step * run->all_workers + share : global_step;
  double factor =
      dpt_straggler_factor(&run->stragglers, run->cfg->seed, run->first_worker + self->w, draw);
  *t1 = dpt_now();
  if (factor <= 1) return DPT_OK;
  /* The previous exchange may be queued on the device: its settle cannot hang on a failed peer. */
  int rc = dpt_sync_settle(&run->sync, self->w, &self->err);
  if (!rc) rc = dpt_dev_sync(&self->dev, &self->err);
  if (rc) return rc;
  dpt_sleep((factor - 1) * (dpt_now() - t0));
  *t1 = dpt_now();
  return DPT_OK;
}

/* Reads the ledger back, and what it decided into *outcome. The one wait is the exchange's
 * settle, which a failed peer cannot hang (the device's own sync then finds the copy done). */
static int read_ledger(worker *self, int epoch, long step, dpt_step_outcome *outcome)
{
  dpt_run *run = self->run;
  int rc = dpt_dev_copy_d2h_queued(&self->dev, self->seen, self->ledger, sizeof *self->seen,
                                   &self->err);
  if (!rc) rc = dpt_sync_settle(&run->sync, self->w, &self->err);
  if (!rc) rc = dpt_dev_sync(&self->dev, &self->err);
  return rc ? rc : dpt_guard_read(run, self->w, self->seen, epoch, step, outcome, &self->err);
}

/* Whether step's loss is summed: every --metrics-every steps, in every process (a read point:
 * run->read_every divides it), whether a metrics row is written or not. */
static bool step_loss_due(const dpt_run *run, int epoch, long step)
{
  return (dpt_run_step_index(run, epoch, step) + 1) % run->cfg->metrics_every == 0;
}

/* Share `share` (of every process's workers) of step's global batch. *outcome: what the
 * exchange's votes decided (host/train/step_guard.h), where the ledger is read after this step
 * (*read); else nothing. */
static int train_step(worker *self, int epoch, long step, int share, float *lr_out, bool *read,
                      dpt_step_outcome *outcome)
{
  dpt_run *run = self->run;
  const dpt_config *cfg = run->cfg;
  size_t n = run->train->count;
  size_t lo = (size_t)step * (size_t)cfg->batch;
  int batch_rows = (int)(n - lo < (size_t)cfg->batch ? n - lo : (size_t)cfg->batch);
  int off, rows;
  dpt_shard_rows(batch_rows, run->all_workers, share, &off, &rows);
  long global_step = dpt_run_step_index(run, epoch, step);

  /* Queued on a GPU: the time it takes the host to queue the pass. */
  double t0 = dpt_now();
  int rc = load_rows(self, run->train, self->order, lo + (size_t)off, rows);
  if (!rc)
    rc = dpt_mlp_forward_backward(&self->rep, rows, 1.f / (float)batch_rows, self->grads, NULL,
                                  &self->err);
  double t1 = t0;
  if (!rc) rc = straggle(self, global_step, share, t0, &t1);
  self->slot->compute_s += t1 - t0;
  if (rc) return rc;
  self->step_rows = rows;

  float lr = dpt_schedule_lr(&cfg->schedule, global_step, run->steps_per_epoch, cfg->epochs);
  *read = dpt_guard_read_due(run, epoch, step);
  rc = dpt_guard_before_exchange(run, self->w, &self->dev, self->grads, &self->ledger->gate, epoch,
                                 step, *read, &self->err);
  if (rc) return rc;
  dpt_sync_timing t = {0};
  /* A read settles the exchange (read_ledger): then the exchange need not wait itself. */
  /* The exchange commits the step's figures unless its votes skipped it (kn_ledger_commit). */
  dpt_ledger_step commit = {.ledger = self->ledger, .rows = rows, .row_loss = self->rep.row_loss,
                            .row_argmax = self->rep.row_argmax, .labels = self->rep.labels,
                            .step = global_step + 1, .max_skips = cfg->max_skips,
                            .nonfinite_stop = cfg->on_nan == DPT_ON_NAN_STOP};
  rc = dpt_sync_exchange(&run->sync, self->w, self->rep.params, lr, NULL, NULL, &commit, *read,
                         &t, &self->err);
  if (run->trace) dpt_trace_step(run->trace, self->w, global_step + 1, t0, t1, dpt_now(), &t);
  self->slot->comm_s += t.comm_s;
  self->slot->pull_staleness = t.staleness; /* worker 0's, for its step's metrics row */
  self->slot->wait_s += t.wait_s;
  if (!rc) self->slot->exchanges++; /* read by a dropper under the queue lock (piece_queue.c) */
  /* --check-replicas waits for the device: first for the exchange, which may wait on others. */
  if (!rc && cfg->check_replicas) rc = dpt_sync_settle(&run->sync, self->w, &self->err);
  if (!rc)
    rc = dpt_guard_after_exchange(run, self->w, &self->dev, self->rep.params, epoch, step,
                                  &self->err);
  *outcome = (dpt_step_outcome){0};
  if (!rc && *read) rc = read_ledger(self, epoch, step, outcome);
  if (rc) return rc;
  if (step_loss_due(run, epoch, step))
    self->slot->step_loss[(global_step + 1) / cfg->metrics_every % 2] = self->seen->step_loss;
  *lr_out = lr;
  /* With staleness the replicas differ by design until the epoch's end (end_training_loop). */
  return cfg->check_replicas && cfg->staleness == 0 ? check_replicas(self, global_step) : DPT_OK;
}

/* Between two chunks of an evaluation (dpt_resilience.stop_evaluation). */
static bool evaluation_stopped(worker *self)
{
  dpt_resilience *r = &self->run->resilience;
  if (self->w == 0 && dpt_observer_stop_requested(self->run->obs))
    atomic_store(&r->stop_evaluation, true);
  return atomic_load(&r->stop_evaluation);
}

/* This worker's rank among the workers still in the run, of how many: the evaluation's split.
 * Read after the barrier that ends training, when no worker leaves. */
static void live_rank(const worker *self, int *rank, int *live)
{
  dpt_run *run = self->run;
  *rank = run->first_worker;
  *live = run->all_workers;
  for (int w = 0; w < run->workers; w++) {
    bool gone = dpt_run_worker_lost(run, w);
    *live -= gone;
    *rank += w < self->w && !gone;
  }
}

static int evaluate_slice(worker *self)
{
  dpt_run *run = self->run;
  int off, rows, rank, live;
  live_rank(self, &rank, &live);
  dpt_shard_rows((int)run->test->count, live, rank, &off, &rows);
  self->slot->test_loss_sum = 0;
  self->slot->test_correct = 0;
  for (int done = 0; done < rows && !evaluation_stopped(self);) {
    int chunk = rows - done < run->replica_rows ? rows - done : run->replica_rows;
    dpt_mlp_pass pass;
    int rc = load_rows(self, run->test, NULL, (size_t)(off + done), chunk);
    if (!rc) rc = dpt_mlp_forward(&self->rep, chunk, &pass, &self->err);
    if (rc) return rc;
    self->slot->test_loss_sum += pass.loss_sum;
    self->slot->test_correct += pass.correct;
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
  dpt_epoch_stats st = {.epoch = epoch,
                        .epochs = run->cfg->epochs,
                        .lr = lr,
                        .step = dpt_run_step_index(run, epoch + 1, 0),
                        .workers = run->all_workers};
  /* The epoch's figures, summed in worker order, then over processes in one call. */
  enum { LOSS, CORRECT, SAMPLES, TEST_LOSS, TEST_CORRECT, EVALUATION_CUT, SKIPPED, FIGURES };
  /* Skips: with staleness each process counts its own workers' dropped pushes; synchronous, every
   * process counts every skipped step. */
  bool own_skips = run->cfg->staleness > 0 || run->proc_rank == 0;
  double fig[FIGURES] = {[EVALUATION_CUT] = atomic_load(&run->resilience.stop_evaluation),
                         [SKIPPED] = own_skips ? (double)run->resilience.epoch_skipped_steps : 0};
  for (int w = 0; w < run->workers; w++) {
    const dpt_worker_slot *slot = &run->slots[w];
    fig[LOSS] += slot->loss_sum;
    fig[CORRECT] += (double)slot->correct;
    fig[SAMPLES] += (double)slot->samples;
    if (atomic_load(&slot->lost)) continue; /* it left before this evaluation */
    fig[TEST_LOSS] += slot->test_loss_sum;
    fig[TEST_CORRECT] += (double)slot->test_correct;
  }
  int rc = dpt_run_procs_sum(run, fig, FIGURES, err);
  if (rc) return rc;
  /* The epoch's training is over, even when its evaluation is cut: the next one counts anew. */
  st.skipped_steps = (long)fig[SKIPPED];
  run->resilience.epoch_skipped_steps = 0;
  if (fig[EVALUATION_CUT] > 0) {
    run->resilience.evaluation_cut = true;
    run->resilience.stopped_after = st.step;
    return DPT_OK;
  }
  bool trained = fig[SAMPLES] > 0; /* not when --on-nan skip dropped every step */
  st.train_loss = trained ? fig[LOSS] / fig[SAMPLES] : NAN;
  st.train_accuracy = trained ? fig[CORRECT] / fig[SAMPLES] : NAN;
  st.test_loss = fig[TEST_LOSS] / (double)run->test->count;
  st.test_accuracy = fig[TEST_CORRECT] / (double)run->test->count;
  long before = first_step * (long)run->cfg->batch; /* < count: first_step is not the last */
  st.samples_per_sec = (double)((long)run->train->count - before) / train_time;
  st.elapsed_s = dpt_now() - run->start_s;
  if (run->cfg->target_acc > 0 && run->steps_to_target < 0 &&
      st.test_accuracy >= run->cfg->target_acc) {
    run->steps_to_target = st.step;
    run->seconds_to_target = st.elapsed_s;
  }
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

/* Worker 0, after step: its progress, and every --metrics-every steps the global batch's mean
 * loss, summed in worker order, then over the MPI processes (dpt_worker_slot.step_loss says why
 * every slot's entry is written and stable here); else the loss is NaN. With staleness the
 * workers' steps are not in lockstep: the mean loss of worker 0's own share (rows of them). */
static int report_step(dpt_run *run, int epoch, long step, int rows, float lr,
                       double epoch_elapsed_s, dpt_err *err)
{
  long global_step = dpt_run_step_index(run, epoch, step);
  long samples = samples_through(run, step);
  long batch_rows = samples - step * (long)run->cfg->batch;
  double loss = NAN, loss_rows = (double)batch_rows;
  int rc = DPT_OK;
  long entry = (global_step + 1) / run->cfg->metrics_every % 2;
  if (step_loss_due(run, epoch, step) && run->cfg->staleness > 0) {
    loss = run->slots[0].step_loss[entry];
    loss_rows = rows > 0 ? rows : 1;
  } else if (step_loss_due(run, epoch, step)) {
    loss = 0;
    for (int w = 0; w < run->workers; w++) loss += run->slots[w].step_loss[entry];
    rc = dpt_run_procs_sum(run, &loss, 1, err);
  }
  if (rc || !run->obs || !run->obs->on_step) return rc;
  dpt_step_stats st = {.epoch = epoch, .epochs = run->cfg->epochs, .step_in_epoch = step + 1,
                       .steps_per_epoch = run->steps_per_epoch, .step = global_step + 1,
                       .workers = run->all_workers, .loss = loss / loss_rows, .lr = lr,
                       .epoch_elapsed_s = epoch_elapsed_s, .samples_done = samples,
                       .elapsed_s = dpt_now() - run->start_s,
                       .staleness = run->cfg->staleness > 0 ? (long)run->slots[0].pull_staleness
                                                            : -1};
  run->obs->on_step(run->obs->ctx, &st);
  return DPT_OK;
}

/* One step of the epoch's loop, on share `share` of its global batch, then its boundary. */
static int step_and_boundary(worker *self, int epoch, long step, int share, double t0, float *lr,
                             dpt_step_outcome *outcome)
{
  dpt_run *run = self->run;
  bool read = false;
  int rc = train_step(self, epoch, step, share, lr, &read, outcome);
  if (!rc) dpt_step_counts_step_done(&self->slot->counts, &self->dev);
  if (!rc) self->loop_steps++;
  /* Synchronous: every worker's loss of this step is in its slot once all have read their
   * ledgers. With staleness worker 0 reports its own. */
  if (!rc && step_loss_due(run, epoch, step) && run->workers > 1 && run->cfg->staleness == 0)
    rc = dpt_barrier_wait(&run->barrier, self->w, &self->err);
  if (!rc && self->w == 0) {
    dpt_run_announce_lost(run);
    rc = report_step(run, epoch, step, self->step_rows, *lr, dpt_now() - t0, &self->err);
  }
  if (!rc && read)
    rc = dpt_guard_step_boundary(run, self->w, &self->dev, self->rep.params, epoch, step, outcome,
                                 &self->err);
  return rc;
}

/* Whether what the votes decided stops every worker after this step. */
static bool outcome_stops(const dpt_step_outcome *o) { return o->stop || o->diverged || o->halted; }

/* Queued: pieces from the shared queue until none is left or *stopped. */
static int train_pieces(worker *self, int epoch, double t0, float *lr, dpt_step_outcome *outcome,
                        bool *stopped, bool first)
{
  int rc = DPT_OK, n = self->run->all_workers;
  for (long k = 0; !rc && !*stopped; first = false) {
    rc = dpt_piece_queue_take(self->run, self->w, epoch, first, &k, &self->err);
    if (rc || k < 0) break;
    rc = step_and_boundary(self, epoch, k / n, (int)(k % n), t0, lr, outcome);
    *stopped = outcome_stops(outcome);
  }
  return rc;
}

/* A barrier whose wait counts as this worker waiting. */
static int wait_for_the_others(worker *self)
{
  double t0 = dpt_now();
  int rc = dpt_barrier_wait(&self->run->barrier, self->w, &self->err);
  self->slot->wait_s += dpt_now() - t0;
  return rc;
}

/* Queued, once this worker found the queue empty (or stopped): a worker lost after the others
 * had emptied the queue gave its piece back (host/train/run_lose.c); the others train it before
 * the epoch ends. Between two barriers, where nobody takes a piece, every worker reads the same
 * decision. */
static int finish_queue(worker *self, int epoch, double t0, float *lr, dpt_step_outcome *outcome,
                        bool *stopped)
{
  dpt_run *run = self->run;
  for (;;) {
    if (*stopped) atomic_store(&run->stop_seen, true);
    int rc = wait_for_the_others(self);
    pthread_mutex_lock(&run->queue_mu);
    bool again = run->n_returned > 0 && !atomic_load(&run->stop_seen);
    pthread_mutex_unlock(&run->queue_mu);
    if (!rc) rc = wait_for_the_others(self);
    if (!rc && again) rc = train_pieces(self, epoch, t0, lr, outcome, stopped, false);
    if (rc || !again) return rc;
  }
}

/* The epoch's training loop from step `first`, until its steps are done or *stopped. Fixed
 * shares: each step this worker trains its own share of the global batch. Queued (--staleness
 * inf): it takes the next piece of the epoch (a step's share) until none is left. *complete: the
 * loop ran the epoch's last step (a stop after it still ends the epoch). */
static int train_epoch_steps(worker *self, int epoch, long first, double t0, float *lr,
                             dpt_step_outcome *outcome, bool *stopped, bool *complete)
{
  dpt_run *run = self->run;
  int rc = DPT_OK;
  atomic_store(&self->slot->in_training, true);
  if (run->queued) {
    rc = train_pieces(self, epoch, t0, lr, outcome, stopped, true);
    if (!rc) rc = finish_queue(self, epoch, t0, lr, outcome, stopped);
    *complete = !rc && !*stopped;
  } else {
    long step = first;
    for (; step < run->steps_per_epoch && !rc && !*stopped; step++) {
      rc = step_and_boundary(self, epoch, step, run->first_worker + self->w, t0, lr, outcome);
      *stopped = outcome_stops(outcome);
    }
    *complete = step == run->steps_per_epoch;
  }
  /* A failure inside the loop leaves the flag set: it may then cost the run this worker only. */
  if (!rc) atomic_store(&self->slot->in_training, false);
  return rc;
}

/* Stale, over MPI processes, once every worker of this process has left its loop: worker 0 meets
 * the other processes' (so every push of the epoch, everywhere, is applied before any replica
 * settles) and learns whether a worker of any process stopped; then this process's workers meet
 * again and read the answer. */
static int meet_other_processes(worker *self)
{
  dpt_run *run = self->run;
  int rc = DPT_OK;
  if (self->w == 0) {
    double stops = atomic_load(&run->stop_seen);
    double t0 = dpt_now();
    rc = dpt_run_procs_sum(run, &stops, 1, &self->err);
    self->slot->wait_s += dpt_now() - t0;
    if (!rc) atomic_store(&run->stop_seen, stops > 0);
  }
  return rc ? rc : wait_for_the_others(self);
}

/* After the training loop, every worker: waits for the others (counted as waiting). With
 * staleness the workers leave their loops at different steps: once all have (of every process),
 * any stop one saw stops them all, and every replica takes the server's parameters. */
static int end_training_loop(worker *self, bool *stopped)
{
  dpt_run *run = self->run;
  if (*stopped && run->cfg->staleness > 0) atomic_store(&run->stop_seen, true);
  int rc = wait_for_the_others(self);
  if (rc || run->cfg->staleness == 0) return rc;
  if (run->procs > 1 && (rc = meet_other_processes(self))) return rc;
  *stopped = atomic_load(&run->stop_seen);
  return dpt_sync_adopt_shared(&run->sync, self->w, self->rep.params, &self->err);
}

/* When the epoch's training started: the first worker out of the starting barrier (one may wake
 * late from it, so its own clock would miss the others' work). After the barrier that ends the
 * training loop. */
static double epoch_start(const dpt_run *run)
{
  double t0 = run->slots[0].epoch_t0;
  for (int w = 1; w < run->workers; w++)
    if (run->slots[w].epoch_t0 < t0) t0 = run->slots[w].epoch_t0;
  return t0;
}

/* The learning rate of the epoch's last step. */
static float last_step_lr(const dpt_run *run, int epoch)
{
  long last = dpt_run_step_index(run, epoch, run->steps_per_epoch - 1);
  return dpt_schedule_lr(&run->cfg->schedule, last, run->steps_per_epoch, run->cfg->epochs);
}

/* Sets *stopped when every worker stops at a step boundary of this epoch: on request (after
 * saving a checkpoint when configured) or diverged (saving none); a stop after its last step still
 * ends the epoch first (a stop request cuts its evaluation short, dpt_resilience.evaluation_cut). */
static int run_epoch(worker *self, int epoch, bool *stopped)
{
  dpt_run *run = self->run;
  long first = epoch == run->resilience.start_epoch ? run->resilience.start_step : 0;
  if (first == 0) { /* a resumed epoch keeps the figures its checkpoint restored */
    self->slot->loss_sum = 0;
    self->slot->correct = 0;
    self->slot->samples = 0;
  }
  shuffle_epoch(self, epoch);
  /* Nobody takes a piece before the barrier. */
  if (self->w == 0 && run->queued) dpt_piece_queue_deal(run, epoch);
  /* The ledger starts the epoch from the slot's figures (zero, or a checkpoint's), and the rest as
   * last read: nothing changed it since. */
  dpt_ledger *l = self->seen;
  l->loss_sum = self->slot->loss_sum;
  l->correct = (double)self->slot->correct;
  l->samples = (double)self->slot->samples;
  int rc = dpt_dev_copy_h2d(&self->dev, self->ledger, l, sizeof *l, &self->err);
  if (!rc) rc = dpt_barrier_wait(&run->barrier, self->w, &self->err);
  double t0 = dpt_now();
  self->slot->epoch_t0 = t0;
  self->loop_steps = 0;
  dpt_step_counts_loop_start(&self->slot->counts, &self->dev);
  float lr = 0;
  bool complete = false;
  dpt_step_outcome outcome = {0};
  if (!rc) rc = train_epoch_steps(self, epoch, first, t0, &lr, &outcome, stopped, &complete);
  /* Synchronous: every worker stopped after the same step, and knows it. */
  if (rc || (!complete && run->cfg->staleness == 0)) return rc;
  dpt_step_counts_loop_end(&self->slot->counts, &self->dev, self->loop_steps);
  rc = end_training_loop(self, stopped);
  if (rc || (*stopped && run->cfg->staleness > 0)) return rc; /* stale: no epoch's end in a stop */
  double eval_t0 = dpt_now(), train_time = eval_t0 - epoch_start(run);
  if (!rc && self->w == 0) run->train_s += train_time;
  if (run->queued) lr = last_step_lr(run, epoch); /* worker 0 may not have run the last piece */
  /* Stale: the replicas just settled must all be the same (no push came between the settles). */
  if (run->cfg->check_replicas && run->cfg->staleness > 0)
    rc = check_replicas(self, dpt_run_step_index(run, epoch + 1, 0) - 1);
  if (!rc) rc = evaluate_slice(self);
  if (!rc && run->trace)
    dpt_trace_span(run->trace, self->w, DPT_SPAN_EVAL, eval_t0, dpt_now(),
                   dpt_run_step_index(run, epoch + 1, 0), -1);
  if (!rc) rc = dpt_barrier_wait(&run->barrier, self->w, &self->err);
  if (!rc && self->w == 0) dpt_run_announce_lost(run);
  if (!rc && self->w == 0) rc = report_epoch(run, epoch, first, train_time, lr, &self->err);
  if (!rc && self->w == 0 && !outcome.diverged) /* a diverged state is not worth continuing */
    rc = dpt_checkpoint_save_run(run, &self->dev, self->rep.params, epoch + 1, 0, &self->err);
  if (!rc) rc = dpt_barrier_wait(&run->barrier, self->w, &self->err);
  if (!rc && run->resilience.evaluation_cut) *stopped = true; /* written before the barrier */
  return rc;
}

void dpt_worker_run(dpt_run *run, int w)
{
  worker self = {.run = run, .w = w, .slot = &run->slots[w]};
  int rc = worker_setup(&self);
  if (!rc) rc = dpt_barrier_wait(&run->barrier, w, &self.err);
  bool stopped = false;
  for (int epoch = run->resilience.start_epoch; epoch <= run->cfg->epochs && !rc && !stopped;
       epoch++)
    rc = run_epoch(&self, epoch, &stopped);
  if (!rc && w == 0)
    rc = dpt_dev_copy_d2h(&self.dev, run->final_params, self.rep.params,
                          run->n_params * sizeof(float), &self.err);
  if (self.dev_open) dpt_step_counts_end(&self.slot->counts, &self.dev);
  /* A worker the others dropped fails with that: the run goes on without it. */
  if (rc && !dpt_run_worker_lost(run, w)) dpt_run_lose_worker(run, w, &self.err);
  worker_teardown(&self);
}
