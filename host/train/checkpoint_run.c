#include "host/train/checkpoint_run.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/checkpoint/checkpoint_io.h"
#include "host/train/run.h"
#include "host/train/run_procs.h"
#include "host/train/stale_checkpoint.h"

/* The checkpoint fields a run defines by itself (no position, no arrays). */
static dpt_checkpoint describe_run(const dpt_run *run)
{
  const dpt_config *cfg = run->cfg;
  dpt_checkpoint ck = {.shape = run->shape, .n_params = run->n_params,
                       .workers = run->all_workers, .processes = run->procs, .seed = cfg->seed,
                       .strategy = cfg->strategy, .batch = cfg->batch,
                       .schedule = cfg->schedule, .momentum = cfg->momentum,
                       .weight_decay = cfg->weight_decay, .epochs = cfg->epochs,
                       .train_samples = (uint64_t)run->train->count,
                       .train_fingerprint = run->train->fingerprint,
                       .test_fingerprint = run->test->fingerprint};
  dpt_mlp_shape_text(&run->shape, ck.model, sizeof ck.model);
  return ck;
}

/* The steps skipped in a row before the cut: the same in every slot, except with staleness,
 * where each worker counts its own dropped pushes: the longest run of them. */
static long skips_in_a_row(const dpt_run *run)
{
  long most = 0;
  for (int w = 0; w < run->workers; w++)
    if (run->slots[w].skips_in_a_row > most) most = run->slots[w].skips_in_a_row;
  return most;
}

/* Process 0 alone (the others hold the same replicas and no server state), with every process's
 * figures in r->save_workers: reads its state and writes the file. With staleness, at an epoch's
 * end only, the state is the server's consistent cut (host/train/stale_checkpoint.h). */
static int write_checkpoint(dpt_run *run, dpt_device *dev, const float *params, int next_epoch,
                            long next_step, dpt_err *err)
{
  dpt_resilience *r = &run->resilience;
  int rc;
  if (run->cfg->staleness > 0) {
    rc = next_step == 0 ? dpt_stale_checkpoint_read(run, next_epoch, err)
                        : dpt_err_set(err, DPT_EINTERNAL,
                                      "checkpoint: stale training saves at an epoch's end only");
  } else {
    rc = dpt_dev_copy_d2h(dev, r->save_params, params, run->n_params * sizeof(float), err);
    if (!rc) rc = dpt_sync_read_velocity(&run->sync, 0, r->save_velocity, err);
  }
  if (rc) return rc;
  dpt_checkpoint ck = describe_run(run);
  ck.epoch = next_epoch;
  ck.step = (uint64_t)next_step;
  ck.skipped_steps = (uint64_t)r->skipped_steps;
  ck.skips_in_a_row = (uint64_t)skips_in_a_row(run);
  ck.epoch_skipped_steps = (uint64_t)r->epoch_skipped_steps;
  ck.per_worker = r->save_workers;
  ck.params = r->save_params;
  ck.velocity = r->save_velocity;
  rc = dpt_checkpoint_write_file(run->cfg->checkpoint_path, &ck, r->fault.slow_save_s, err);
  if (rc) return rc;
  r->saved_epoch = next_epoch;
  r->saved_state_hash = dpt_stale_state_hash(ck.params, ck.velocity, run->n_params);
  return DPT_OK;
}

/* How long the other processes wait for process 0 to write or read a checkpoint: files can be
 * slower than any exchange, so not --timeout but FILE_TIMEOUTS times it (none with --timeout 0). */
enum { FILE_TIMEOUTS = 10 };
static double file_wait_s(const dpt_run *run) { return FILE_TIMEOUTS * run->cfg->timeout_s; }

/* Every process's share of the save, worker 0 (dpt_checkpoint_save_run). */
static int save_everywhere(dpt_run *run, dpt_device *dev, const float *params, int next_epoch,
                           long next_step, dpt_err *err)
{
  dpt_resilience *r = &run->resilience;
  /* At an epoch's end the next epoch starts from zero: its figures are not the last epoch's. */
  for (int w = 0; w < run->workers; w++) {
    const dpt_worker_slot *s = &run->slots[w];
    r->save_mine[w] = next_step == 0 ? (dpt_checkpoint_worker){0}
                                     : (dpt_checkpoint_worker){.loss_sum = s->loss_sum,
                                                               .correct = (uint64_t)s->correct,
                                                               .samples = (uint64_t)s->samples};
  }
  int rc = dpt_run_procs_gather(run, r->save_mine, (size_t)run->workers * sizeof *r->save_mine,
                                r->save_workers, err);
  if (rc) return rc;
  if (run->proc_rank == 0) rc = write_checkpoint(run, dev, params, next_epoch, next_step, err);
  /* No process goes on before the file is in place: one that exited (stopped, failed) meanwhile
   * would have its launcher end the job, process 0 mid-save too. */
  return dpt_run_procs_share_status(run, rc, "process 0 could not save the checkpoint",
                                    "process 0 to save the checkpoint", file_wait_s(run), err);
}

int dpt_checkpoint_save_run(dpt_run *run, dpt_device *dev, const float *params, int next_epoch,
                            long next_step, dpt_err *err)
{
  if (!run->cfg->checkpoint_path) return DPT_OK;
  /* The workers of this process waiting for worker 0 do not count the save against --timeout;
   * they give up only after the other processes would have (file_wait_s) plus --timeout. */
  dpt_barrier_busy(&run->barrier, 0, "saving a checkpoint",
                   file_wait_s(run) + run->cfg->timeout_s);
  int rc = save_everywhere(run, dev, params, next_epoch, next_step, err);
  dpt_barrier_idle(&run->barrier);
  return rc;
}

static const char *const decay_names[] = {"cosine", "step", "constant"};

/* The same data set (host/train/checkpoint_run.h). A checkpoint that recorded none (version 2)
 * passes: its training-set size was checked with the settings. */
static int check_data_set(const dpt_checkpoint *ck, const dpt_run *run, const char *path,
                          dpt_err *err)
{
  const struct {
    const char *files;
    uint64_t have, want;
  } sets[] = {{"training", ck->train_fingerprint, run->train->fingerprint},
              {"test", ck->test_fingerprint, run->test->fingerprint}};
  for (size_t i = 0; i < sizeof sets / sizeof *sets; i++)
    if (sets[i].have && sets[i].have != sets[i].want)
      return dpt_err_set(err, DPT_EINPUT,
                         "--resume %s: written on another data set: the checkpoint's %s files "
                         "have fingerprint %016llx, those in --data %s have %016llx: resume with "
                         "the data set the run was trained on",
                         path, sets[i].files, (unsigned long long)sets[i].have,
                         run->cfg->data_dir, (unsigned long long)sets[i].want);
  return DPT_OK;
}

/* Everything the final parameters depend on must be as it was, or resuming would not continue
 * the same run. The strategy may differ: allreduce and ps give the same bits. */
static int check_matches(const dpt_checkpoint *ck, const dpt_run *run, const char *path,
                         dpt_err *err)
{
  dpt_checkpoint want = describe_run(run);
  if (strcmp(ck->model, want.model) != 0 || ck->shape.sizes[0] != want.shape.sizes[0] ||
      ck->n_params != want.n_params)
    return dpt_err_set(err, DPT_EINPUT,
                       "--resume %s: the checkpoint's model is %s on %d inputs, this run's is %s "
                       "on %d inputs: check --model, --hidden and --data",
                       path, ck->model, ck->shape.sizes[0], want.model, want.shape.sizes[0]);
  if (ck->seed != want.seed)
    return dpt_err_set(err, DPT_EINPUT, "--resume %s: written with --seed %llu, this run has %llu",
                       path, (unsigned long long)ck->seed, (unsigned long long)want.seed);
  if (ck->schedule.decay != want.schedule.decay)
    return dpt_err_set(err, DPT_EINPUT,
                       "--resume %s: written with --lr-schedule %s, this run has %s", path,
                       decay_names[ck->schedule.decay], decay_names[want.schedule.decay]);
  /* The sum over workers is added per process, then over processes: another layout, other bits. */
  if (ck->processes != want.processes)
    return dpt_err_set(err, DPT_EINPUT,
                       "--resume %s: written by %d MPI process(es) x %d worker(s), this run is %d "
                       "process(es) x %d worker(s): continuing exactly needs the same layout",
                       path, ck->processes, ck->workers / ck->processes, want.processes,
                       run->workers);
  const struct {
    const char *option;
    double have, want;
  } settings[] = {
      {"--workers", ck->workers / ck->processes, run->workers},
      {"--batch", ck->batch, want.batch},
      {"--lr", ck->schedule.base_lr, want.schedule.base_lr},
      {"--warmup-epochs", ck->schedule.warmup_epochs, want.schedule.warmup_epochs},
      {"--lr-step-epochs", ck->schedule.step_epochs, want.schedule.step_epochs},
      {"--lr-gamma", ck->schedule.gamma, want.schedule.gamma},
      {"--momentum", ck->momentum, want.momentum},
      {"--weight-decay", ck->weight_decay, want.weight_decay},
      {"training samples", (double)ck->train_samples, (double)want.train_samples},
  };
  for (size_t i = 0; i < sizeof settings / sizeof *settings; i++)
    if (settings[i].have != settings[i].want)
      return dpt_err_set(err, DPT_EINPUT,
                         "--resume %s: written with %s %g, this run has %g: continuing exactly "
                         "needs the same value",
                         path, settings[i].option, settings[i].have, settings[i].want);
  return check_data_set(ck, run, path, err);
}

static void notice(const dpt_run *run, const char *msg)
{
  if (run->obs && run->obs->on_notice) run->obs->on_notice(run->obs->ctx, msg);
}

/* Process 0 alone reads the file (the others' nodes may not see it) and passes its bytes on; every
 * process decodes them, so every process checks them and fails alike. */
static int read_on_process_0(dpt_run *run, const char *path, const char *name, dpt_checkpoint *ck,
                             dpt_err *err)
{
  uint8_t *bytes = NULL;
  size_t len = 0;
  int rc = DPT_OK;
  if (run->proc_rank == 0) rc = dpt_checkpoint_read_bytes(path, name, &bytes, &len, err);
  rc = dpt_run_procs_share_status(run, rc, "process 0 could not read the checkpoint",
                                  "process 0 to read the checkpoint", file_wait_s(run), err);
  uint64_t size = len; /* the same width on every process */
  if (!rc) rc = dpt_run_procs_bcast(run, &size, sizeof size, err);
  if (!rc && run->proc_rank != 0) {
    len = (size_t)size;
    bytes = malloc(len ? len : 1);
    if (!bytes) rc = dpt_err_set(err, DPT_ENOMEM, "%s: out of memory for %zu bytes", name, len);
  }
  if (!rc) rc = dpt_run_procs_bcast(run, bytes, len, err);
  if (!rc) rc = dpt_checkpoint_decode(bytes, len, name, ck, err);
  free(bytes);
  return rc;
}

int dpt_checkpoint_resume_run(dpt_run *run, float *init_params, dpt_err *err)
{
  const dpt_config *cfg = run->cfg;
  dpt_resilience *r = &run->resilience;
  dpt_checkpoint *ck = &r->resumed;
  char name[4200];
  snprintf(name, sizeof name, "--resume %s", cfg->resume_path);
  int rc = read_on_process_0(run, cfg->resume_path, name, ck, err);
  if (!rc) rc = check_matches(ck, run, cfg->resume_path, err);
  if (!rc && ck->epoch > cfg->epochs)
    rc = dpt_err_set(err, DPT_EINPUT,
                     "--resume %s: the checkpoint has finished %d epoch(s); --epochs %d leaves "
                     "nothing to train",
                     cfg->resume_path, ck->epoch - 1, cfg->epochs);
  if (!rc && run->queued && ck->step != 0)
    rc = dpt_err_set(err, DPT_EINPUT,
                     "--resume %s: saved in the middle of epoch %d (before its step %llu); "
                     "--staleness inf deals whole epochs from its shared queue: resume it with a "
                     "finite --staleness, or with 0",
                     cfg->resume_path, ck->epoch, (unsigned long long)ck->step + 1);
  if (rc) return rc;
  if (!ck->train_fingerprint)
    notice(run, "--resume: the checkpoint (an older version) does not record its data set: "
                "the data set is not checked");
  if (cfg->schedule.decay == DPT_LR_COSINE && ck->epochs != cfg->epochs) {
    char msg[256];
    snprintf(msg, sizeof msg,
             "--resume: the checkpoint's run spread its cosine schedule over %d epochs, this one "
             "over %d: the learning rate changes at the resume point",
             ck->epochs, cfg->epochs);
    notice(run, msg);
  }
  memcpy(init_params, ck->params, run->n_params * sizeof(float));
  r->start_epoch = ck->epoch;
  r->start_step = (long)ck->step;
  r->skipped_steps = (long)ck->skipped_steps;
  r->epoch_skipped_steps = (long)ck->epoch_skipped_steps;
  for (int w = 0; w < run->workers; w++) {
    const dpt_checkpoint_worker *mine = &ck->per_worker[run->first_worker + w];
    run->slots[w].loss_sum = mine->loss_sum;
    run->slots[w].correct = (long)mine->correct;
    run->slots[w].samples = (long)mine->samples;
    run->slots[w].skips_in_a_row = (long)ck->skips_in_a_row;
  }
  return DPT_OK;
}
