/* Checkpoints, resume, stop requests, faults and NaN handling, end to end through dpt_train on a
 * generated data set: a resumed run ends with the parameters of an uninterrupted one, bit for bit,
 * for both strategies and several worker counts, and a diverging one stops where it would have;
 * wrong checkpoints (another model, layout, setting or data set, a diverged state) are refused; a
 * failing, stalled or NaN-producing worker stops every thread promptly and leaves the last
 * checkpoint intact. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dpt/timer.h"
#include "dpt/trainer.h"
#include "dpt/data.h"
#include "host/checkpoint/checkpoint_io.h"
#include "tests/lib/checkpoint_patch.h"
#include "tests/lib/synth_data.h"
#include "tests/lib/test_util.h"
#include "tests/lib/train_fixture.h"

static char data_dir[4096], four_classes_dir[4096], other_dir[4096], mixed_dir[4096],
    raw_dir[4096], ck_path[4096];

/* data_dir, and beside it: four classes; another data set of the same shape; data_dir's training
 * files with other_dir's test files; data_dir's files decompressed. */
static int make_data(void)
{
  dpt_test_path(data_dir, sizeof data_dir, "synth");
  dpt_test_path(four_classes_dir, sizeof four_classes_dir, "synth4");
  dpt_test_path(other_dir, sizeof other_dir, "synth-other");
  dpt_test_path(mixed_dir, sizeof mixed_dir, "synth-mixed");
  dpt_test_path(raw_dir, sizeof raw_dir, "synth-raw");
  dpt_test_path(ck_path, sizeof ck_path, "run.ckpt");
  char cmd[30000];
  snprintf(cmd, sizeof cmd, "mkdir -p '%s' '%s' '%s' '%s' '%s'", data_dir, four_classes_dir,
           other_dir, mixed_dir, raw_dir);
  if (system(cmd) != 0) return -1;
  /* 1003 samples in batches of 50: 21 steps an epoch, the last one partial. */
  if (dpt_synth_write(data_dir, 1003, 300, 6, 7, 5, 99) != 0 ||
      dpt_synth_write(other_dir, 1003, 300, 6, 7, 5, 98) != 0)
    return -1;
  snprintf(cmd, sizeof cmd,
           "cp '%s'/train-* '%s'/ && cp '%s'/t10k-* '%s'/ && cp '%s'/* '%s'/ && gunzip '%s'/*.gz",
           data_dir, mixed_dir, other_dir, mixed_dir, data_dir, raw_dir, raw_dir);
  if (system(cmd) != 0) return -1;
  return dpt_synth_write(four_classes_dir, 1003, 300, 6, 7, 4, 99);
}

enum { STEPS_PER_EPOCH = 21 };

static void base_config(dpt_config *cfg, dpt_strategy strategy, int workers)
{
  dpt_test_train_config(cfg, data_dir);
  cfg->strategy = strategy;
  cfg->workers = workers;
}

/* Asks the run to stop once stop_at - 1 of its steps are done (counted from this run's start):
 * worker 0 polls before each step's exchange, after the previous step's on_step, so the run stops
 * after step stop_at; a poll in between (an evaluation) already sees the request. */
typedef struct stopper {
  long steps, stop_at;
  int epochs; /* reported */
} stopper;

static void count_step(void *ctx, const dpt_step_stats *st)
{
  ((stopper *)ctx)->steps++;
}

static void count_epoch(void *ctx, const dpt_epoch_stats *st)
{
  ((stopper *)ctx)->epochs++;
}

static bool stop_when_due(void *ctx)
{
  stopper *s = ctx;
  return s->steps + 1 >= s->stop_at;
}

static int train(const dpt_config *cfg, stopper *stop, dpt_result *r, dpt_err *err)
{
  dpt_observer obs = {.ctx = stop, .on_step = stop ? count_step : NULL,
                      .on_epoch = stop ? count_epoch : NULL,
                      .should_stop = stop ? stop_when_due : NULL};
  return dpt_train(cfg, &obs, r, err);
}

/* Runs cfg with DPT_FAULT set to spec; returns the code and fills err. */
static int train_with_fault(const dpt_config *cfg, const char *spec, dpt_err *err)
{
  setenv("DPT_FAULT", spec, 1);
  dpt_result r;
  int rc = train(cfg, NULL, &r, err);
  unsetenv("DPT_FAULT");
  return rc;
}

/* The checkpoint on disk must continue at epoch (1-based), step (0-based within it). */
static void expect_checkpoint_at(int epoch, uint64_t step)
{
  dpt_checkpoint ck;
  dpt_err err = {0};
  int rc = dpt_checkpoint_read_file(ck_path, "checkpoint", &ck, &err);
  if (rc) fprintf(stderr, "%s\n", err.msg);
  CU_ASSERT_FATAL(rc == 0);
  CU_ASSERT_EQUAL(ck.epoch, epoch);
  CU_ASSERT_EQUAL(ck.step, step);
  dpt_checkpoint_free(&ck);
}

/* Resumes ck_path up to cfg->epochs and returns the final parameters' hash. */
static uint64_t resume_hash(const dpt_config *cfg, long *skipped)
{
  dpt_config resumed = *cfg;
  resumed.resume_path = ck_path;
  resumed.checkpoint_path = NULL;
  resumed.checkpoint_every = 0;
  dpt_result r = dpt_test_train_ok(&resumed);
  if (skipped) *skipped = r.skipped_steps;
  return r.params_hash;
}

/* Stopped after epoch 1 of 3, then resumed: the final parameters are the straight run's bits. */
static void test_stop_after_epoch_then_resume_is_bit_identical(void)
{
  DPT_TEST_FOR_EACH_STRATEGY(s)
    for (int workers = 1; workers <= 3; workers++) {
      dpt_config cfg;
      base_config(&cfg, *s, workers);
      uint64_t straight = dpt_test_train_ok(&cfg).params_hash;
      cfg.checkpoint_path = ck_path;
      stopper stop = {.stop_at = STEPS_PER_EPOCH}; /* the last step of epoch 1 */
      dpt_result r;
      dpt_err err = {0};
      CU_ASSERT_EQUAL(train(&cfg, &stop, &r, &err), DPT_EINTERRUPTED);
      CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "after step 21 of 63 (epoch 1, step 21 of 21)"));
      CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, ck_path));
      expect_checkpoint_at(2, 0);
      CU_ASSERT_EQUAL(resume_hash(&cfg, NULL), straight);
    }
}

/* A run of 1 epoch, resumed to 3: the same as 3 straight when the schedule does not depend on
 * the number of epochs (the step schedule); --epochs changes cosine's horizon. */
static void test_one_epoch_run_resumed_to_three(void)
{
  dpt_config cfg;
  base_config(&cfg, DPT_STRATEGY_ALLREDUCE, 2);
  cfg.schedule.decay = DPT_LR_STEP;
  cfg.schedule.step_epochs = 2;
  uint64_t straight = dpt_test_train_ok(&cfg).params_hash;
  cfg.epochs = 1;
  cfg.checkpoint_path = ck_path;
  dpt_test_train_ok(&cfg);
  cfg.epochs = 3;
  cfg.strategy = DPT_STRATEGY_PS; /* the strategies give the same bits, so either may resume */
  CU_ASSERT_EQUAL(resume_hash(&cfg, NULL), straight);
  cfg.epochs = 1; /* nothing left to do is refused */
  dpt_config again = cfg;
  again.resume_path = ck_path;
  dpt_result r;
  dpt_err err = {0};
  CU_ASSERT_EQUAL(train(&again, NULL, &r, &err), DPT_EINPUT);
  CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "nothing to train"));
}

/* --checkpoint-every, then a worker fails: the last periodic checkpoint, in the middle of an
 * epoch, resumes to the straight run's bits. */
static void test_mid_epoch_checkpoint_after_failure(void)
{
  DPT_TEST_FOR_EACH_STRATEGY(s)
    for (int workers = 2; workers <= 3; workers++) {
      dpt_config cfg;
      base_config(&cfg, *s, workers);
      uint64_t straight = dpt_test_train_ok(&cfg).params_hash;
      cfg.checkpoint_path = ck_path;
      cfg.checkpoint_every = 5;
      dpt_err err = {0};
      CU_ASSERT_EQUAL(train_with_fault(&cfg, "worker=1,step=33,kind=fail", &err), DPT_EDEVICE);
      CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "worker 1: step 33: injected failure"));
      expect_checkpoint_at(2, 9); /* saved after step 30 */
      CU_ASSERT_EQUAL(resume_hash(&cfg, NULL), straight);
    }
}

/* A stop request in the middle of an epoch: every worker stops after the same step and the
 * checkpoint continues from there; without --checkpoint the run still stops cleanly. */
static void test_stop_mid_epoch(void)
{
  dpt_config cfg;
  base_config(&cfg, DPT_STRATEGY_PS, 3);
  uint64_t straight = dpt_test_train_ok(&cfg).params_hash;
  dpt_result r;
  dpt_err err = {0};
  stopper stop = {.stop_at = 10};
  CU_ASSERT_EQUAL(train(&cfg, &stop, &r, &err), DPT_EINTERRUPTED);
  CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "after step 10 of 63"));
  CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "no checkpoint"));
  CU_ASSERT_EQUAL(stop.steps, 10); /* no step after the one it stopped after */
  cfg.checkpoint_path = ck_path;
  stop = (stopper){.stop_at = 31};
  dpt_err_clear(&err);
  CU_ASSERT_EQUAL(train(&cfg, &stop, &r, &err), DPT_EINTERRUPTED);
  expect_checkpoint_at(2, 10); /* saved after step 31 */
  CU_ASSERT_EQUAL(resume_hash(&cfg, NULL), straight);
}

/* A request once an epoch's steps are done reaches its evaluation first, which is cut short: the
 * epoch is not reported, its checkpoint is saved and the run stops there; in the last epoch the
 * run is then interrupted, not finished. */
static void test_stop_during_evaluation(void)
{
  for (int workers = 1; workers <= 3; workers += 2) {
    dpt_config cfg;
    base_config(&cfg, DPT_STRATEGY_ALLREDUCE, workers);
    uint64_t straight = dpt_test_train_ok(&cfg).params_hash;
    cfg.checkpoint_path = ck_path;
    dpt_result r;
    dpt_err err = {0};
    stopper stop = {.stop_at = STEPS_PER_EPOCH + 1};
    CU_ASSERT_EQUAL(train(&cfg, &stop, &r, &err), DPT_EINTERRUPTED);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "after step 21 of 63 (epoch 1, step 21 of 21), during "
                                           "its evaluation"));
    CU_ASSERT_EQUAL(stop.steps, STEPS_PER_EPOCH);
    CU_ASSERT_EQUAL(stop.epochs, 0);
    expect_checkpoint_at(2, 0);
    CU_ASSERT_EQUAL(resume_hash(&cfg, NULL), straight);

    stop = (stopper){.stop_at = 3 * STEPS_PER_EPOCH + 1};
    dpt_err_clear(&err);
    CU_ASSERT_EQUAL(train(&cfg, &stop, &r, &err), DPT_EINTERRUPTED);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "during the last epoch's evaluation"));
    CU_ASSERT_EQUAL(stop.epochs, 2);
    expect_checkpoint_at(4, 0);
  }
}

static void expect_refused(const dpt_config *cfg, const char *want)
{
  dpt_config bad = *cfg;
  bad.resume_path = ck_path;
  dpt_result r;
  dpt_err err = {0};
  CU_ASSERT_EQUAL(train(&bad, NULL, &r, &err), DPT_EINPUT);
  if (!strstr(err.msg, want)) {
    fprintf(stderr, "'%s' lacks '%s'\n", err.msg, want);
    CU_FAIL("refusal does not say why");
  }
}

static void test_mismatched_checkpoint_is_refused(void)
{
  dpt_config cfg;
  base_config(&cfg, DPT_STRATEGY_ALLREDUCE, 2);
  cfg.epochs = 1;
  cfg.checkpoint_path = ck_path;
  dpt_test_train_ok(&cfg);
  cfg.checkpoint_path = NULL;
  cfg.epochs = 2;
  dpt_config other = cfg;
  other.hidden[1] = 17;
  expect_refused(&other, "model is fc:32,relu,fc:16,relu,fc:5 on 42 inputs");
  other = cfg;
  other.n_hidden = 1;
  expect_refused(&other, "this run's is fc:32,relu,fc:5 on 42 inputs");
  other = cfg;
  other.model = "conv:4:3,relu,maxpool:2,fc:5,relu,fc";
  expect_refused(&other, "this run's is conv:4:3,relu,maxpool:2,fc:5,relu,fc:5 on 42 inputs: "
                         "check --model");
  other = cfg;
  other.data_dir = four_classes_dir;
  expect_refused(&other, "this run's is fc:32,relu,fc:16,relu,fc:4 on 42 inputs");
  other = cfg;
  other.workers = 3;
  expect_refused(&other, "--workers 2, this run has 3");
  other = cfg;
  other.seed = 2;
  expect_refused(&other, "--seed 1");
  other = cfg;
  other.momentum = 0.5f;
  expect_refused(&other, "--momentum");
  /* The same 2 workers as 2 MPI processes of 1: the sums' order, hence the bits, would differ. */
  dpt_checkpoint ck;
  dpt_err err = {0};
  CU_ASSERT_FATAL(dpt_checkpoint_read_file(ck_path, "checkpoint", &ck, &err) == 0);
  ck.processes = 2;
  CU_ASSERT_EQUAL(dpt_checkpoint_write_file(ck_path, &ck, 0, &err), 0);
  dpt_checkpoint_free(&ck);
  expect_refused(&cfg, "written by 2 MPI process(es) x 1 worker(s), this run is 1 process(es) x "
                       "2 worker(s): continuing exactly needs the same layout");
}

static void write_bytes(const char *path, const uint8_t *bytes, size_t len)
{
  FILE *f = fopen(path, "wb");
  CU_ASSERT_FATAL(f != NULL);
  CU_ASSERT_EQUAL(fwrite(bytes, 1, len, f), len);
  CU_ASSERT_EQUAL(fclose(f), 0);
}

/* Appends each notice to the buffer at ctx (2 * DPT_ERR_MSG_MAX bytes). */
static void keep_notice(void *ctx, const char *msg)
{
  size_t len = strlen(ctx);
  snprintf((char *)ctx + len, 2 * DPT_ERR_MSG_MAX - len, "%s\n", msg);
}

/* A checkpoint resumes only on the data set it was trained on, compressed or not: another one of
 * the same shape is refused naming both fingerprints, for its training files and its test files
 * alike. */
static void test_another_data_set_is_refused(void)
{
  dpt_config cfg;
  base_config(&cfg, DPT_STRATEGY_ALLREDUCE, 2);
  uint64_t straight = dpt_test_train_ok(&cfg).params_hash;
  cfg.epochs = 1;
  cfg.checkpoint_path = ck_path;
  dpt_test_train_ok(&cfg);
  cfg.checkpoint_path = NULL;
  cfg.epochs = 3;
  dpt_dataset train, test, other_train, other_test;
  dpt_err err = {0};
  CU_ASSERT_FATAL(dpt_data_load_dir(data_dir, NULL, &train, &test, &err) == 0);
  CU_ASSERT_FATAL(dpt_data_load_dir(other_dir, NULL, &other_train, &other_test, &err) == 0);
  char want[4600];
  dpt_config other = cfg;
  other.data_dir = other_dir;
  snprintf(want, sizeof want,
           "written on another data set: the checkpoint's training files have fingerprint "
           "%016llx, those in --data %s have %016llx",
           (unsigned long long)train.fingerprint, other_dir,
           (unsigned long long)other_train.fingerprint);
  expect_refused(&other, want);
  other.data_dir = mixed_dir;
  snprintf(want, sizeof want, "the checkpoint's test files have fingerprint %016llx, those in "
           "--data %s have %016llx", (unsigned long long)test.fingerprint, mixed_dir,
           (unsigned long long)other_test.fingerprint);
  expect_refused(&other, want);
  other.data_dir = raw_dir;
  CU_ASSERT_EQUAL(resume_hash(&other, NULL), straight);
  /* A version 2 checkpoint recorded no data set: it resumes, saying that nothing was checked. */
  uint8_t *bytes;
  size_t len;
  CU_ASSERT_FATAL(dpt_checkpoint_read_bytes(ck_path, "ck", &bytes, &len, &err) == 0);
  dpt_ckpt_make_version_2(bytes, &len);
  write_bytes(ck_path, bytes, len);
  free(bytes);
  char notice[2 * DPT_ERR_MSG_MAX] = "";
  dpt_observer obs = {.ctx = notice, .on_notice = keep_notice};
  dpt_result r;
  other = cfg;
  other.resume_path = ck_path;
  CU_ASSERT_EQUAL(dpt_train(&other, &obs, &r, &err), 0);
  CU_ASSERT_EQUAL(r.params_hash, straight);
  CU_ASSERT_PTR_NOT_NULL(
      strstr(notice, "does not record its data set: the data set is not checked"));
  dpt_dataset_free(&train);
  dpt_dataset_free(&test);
  dpt_dataset_free(&other_train);
  dpt_dataset_free(&other_test);
}

/* A checkpoint whose checksums hold but whose parameters do not (a NaN, as a diverged run's
 * would) is refused rather than resumed into more NaN. */
static void test_nonfinite_checkpoint_is_refused(void)
{
  dpt_config cfg;
  base_config(&cfg, DPT_STRATEGY_ALLREDUCE, 2);
  cfg.epochs = 1;
  cfg.checkpoint_path = ck_path;
  dpt_result r = dpt_test_train_ok(&cfg);
  cfg.checkpoint_path = NULL;
  cfg.epochs = 2;
  uint8_t *bytes;
  size_t len;
  dpt_err err = {0};
  CU_ASSERT_FATAL(dpt_checkpoint_read_bytes(ck_path, "ck", &bytes, &len, &err) == 0);
  enum { PARAMS_AT = 128 + 56 + 24 + 2 * 24 };
  float nan = NAN;
  memcpy(bytes + PARAMS_AT + 3 * sizeof(float), &nan, sizeof nan);
  dpt_ckpt_rehash(bytes, len);
  write_bytes(ck_path, bytes, len);
  free(bytes);
  char want[256];
  snprintf(want, sizeof want, "parameter 3 of %zu is nan: the checkpoint holds the state of a "
           "diverged run, which would not resume", r.params);
  expect_refused(&cfg, want);
}

/* The end of the divergence stop's message: "up to step N of ...". */
static const char *diverged_at(const dpt_err *err)
{
  const char *at = strstr(err->msg, "up to step ");
  return at ? at : "(no step)";
}

/* A diverging run (--on-nan skip, --max-skips 5) stopped in the middle of its skips and resumed
 * stops as diverged after the same step as when never stopped: the checkpoint carries the skips
 * in a row. */
static void test_diverging_run_resumed_stops_at_the_same_step(void)
{
  dpt_config cfg;
  base_config(&cfg, DPT_STRATEGY_ALLREDUCE, 2);
  cfg.schedule = (dpt_schedule){.base_lr = 100, .decay = DPT_LR_CONSTANT, .step_epochs = 1,
                                .gamma = 0.1f};
  cfg.on_nan = DPT_ON_NAN_SKIP;
  cfg.max_skips = 5;
  dpt_result r;
  dpt_err straight = {0}, err = {0};
  CU_ASSERT_EQUAL_FATAL(train(&cfg, NULL, &r, &straight), DPT_EDIVERGED);
  long last = 0;
  CU_ASSERT_FATAL(sscanf(diverged_at(&straight), "up to step %ld", &last) == 1);
  CU_ASSERT_PTR_NOT_NULL(strstr(straight.msg, "diverged: 6 steps in a row"));
  cfg.checkpoint_path = ck_path;
  stopper stop = {.stop_at = last - 2}; /* 4 steps skipped in a row by then */
  CU_ASSERT_EQUAL(train(&cfg, &stop, &r, &err), DPT_EINTERRUPTED);
  dpt_checkpoint ck;
  CU_ASSERT_FATAL(dpt_checkpoint_read_file(ck_path, "ck", &ck, &err) == 0);
  CU_ASSERT_EQUAL(ck.skips_in_a_row, 4);
  dpt_checkpoint_free(&ck);
  dpt_config resumed = cfg;
  resumed.resume_path = ck_path;
  resumed.checkpoint_path = NULL;
  dpt_err_clear(&err);
  CU_ASSERT_EQUAL(train(&resumed, NULL, &r, &err), DPT_EDIVERGED);
  if (strcmp(diverged_at(&err), diverged_at(&straight)) != 0)
    fprintf(stderr, "\n  resumed: '%s'\n  straight: '%s'\n", err.msg, straight.msg);
  CU_ASSERT_STRING_EQUAL(diverged_at(&err), diverged_at(&straight));
}

/* Records each epoch's skipped steps. */
static void record_skips(void *ctx, const dpt_epoch_stats *s)
{
  ((long *)ctx)[s->epoch] = s->skipped_steps;
}

/* An epoch's line counts its skipped steps, those before a resume point included. */
static void test_epoch_skips_survive_a_resume(void)
{
  dpt_config cfg;
  base_config(&cfg, DPT_STRATEGY_ALLREDUCE, 2);
  cfg.on_nan = DPT_ON_NAN_SKIP;
  cfg.epochs = 2;
  cfg.checkpoint_path = ck_path;
  setenv("DPT_FAULT", "worker=1,step=26,kind=nan", 1); /* epoch 2, step 5 */
  long skips[4] = {0};
  stopper stop = {.stop_at = 30};
  dpt_observer obs = {.ctx = &stop, .on_step = count_step, .should_stop = stop_when_due};
  dpt_result r;
  dpt_err err = {0};
  CU_ASSERT_EQUAL(dpt_train(&cfg, &obs, &r, &err), DPT_EINTERRUPTED);
  unsetenv("DPT_FAULT");
  cfg.resume_path = ck_path;
  cfg.checkpoint_path = NULL;
  obs = (dpt_observer){.ctx = skips, .on_epoch = record_skips};
  dpt_err_clear(&err);
  CU_ASSERT_EQUAL(dpt_train(&cfg, &obs, &r, &err), 0);
  CU_ASSERT_EQUAL(skips[2], 1);
  CU_ASSERT_EQUAL(r.skipped_steps, 1);
}

/* --on-nan stop: the worker and step are named, no thread is left behind, and the checkpoint
 * saved before the bad step still continues the run exactly. */
static void test_nan_stops_run_and_keeps_checkpoint(void)
{
  DPT_TEST_FOR_EACH_STRATEGY(s) {
    dpt_config cfg;
    base_config(&cfg, *s, 3);
    uint64_t straight = dpt_test_train_ok(&cfg).params_hash;
    cfg.checkpoint_path = ck_path;
    cfg.checkpoint_every = 4;
    dpt_err err = {0};
    CU_ASSERT_EQUAL(train_with_fault(&cfg, "worker=2,step=27,kind=nan", &err), DPT_ENONFINITE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "worker 2: step 27 (epoch 2, step 6 of 21)"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "NaN or Inf"));
    expect_checkpoint_at(2, 3); /* saved after step 24 */
    CU_ASSERT_EQUAL(resume_hash(&cfg, NULL), straight);
  }
}

/* --on-nan skip: the step is dropped on every worker alike (replicas checked after every step,
 * allreduce and ps still bit-identical), counted, and the count survives a resume. */
static void test_nan_skip_drops_step_everywhere(void)
{
  uint64_t hashes[2];
  DPT_TEST_FOR_EACH_STRATEGY(s) {
    dpt_config cfg;
    base_config(&cfg, *s, 3);
    cfg.on_nan = DPT_ON_NAN_SKIP;
    cfg.check_replicas = true;
    uint64_t straight = dpt_test_train_ok(&cfg).params_hash;
    setenv("DPT_FAULT", "worker=1,step=5,kind=nan", 1);
    dpt_result r = dpt_test_train_ok(&cfg);
    CU_ASSERT_EQUAL(r.skipped_steps, 1);
    CU_ASSERT_NOT_EQUAL(r.params_hash, straight);
    CU_ASSERT(r.test_accuracy > 0.9); /* one dropped step does not hurt */
    hashes[s - dpt_test_strategies] = r.params_hash;
    cfg.checkpoint_path = ck_path;
    stopper stop = {.stop_at = 30};
    dpt_err err = {0};
    CU_ASSERT_EQUAL(train(&cfg, &stop, &r, &err), DPT_EINTERRUPTED);
    unsetenv("DPT_FAULT");
    long skipped = 0;
    CU_ASSERT_EQUAL(resume_hash(&cfg, &skipped), hashes[s - dpt_test_strategies]);
    CU_ASSERT_EQUAL(skipped, 1);
  }
  CU_ASSERT_EQUAL(hashes[0], hashes[1]);
}

static int count_threads(void)
{
  DIR *d = opendir("/proc/self/task");
  int n = 0;
  if (!d) return -1;
  for (struct dirent *e; (e = readdir(d)) != NULL;) n += e->d_name[0] != '.';
  closedir(d);
  return n;
}

/* A worker that fails, or stalls past --timeout, stops the run: no hang (a bound far below the
 * 60 s timeout for a failure), no thread left running, and the stalled worker is named. */
static void test_fail_and_stall_stop_every_thread(void)
{
  DPT_TEST_FOR_EACH_STRATEGY(s) {
    dpt_config cfg;
    base_config(&cfg, *s, 3);
    int threads = count_threads();
    double t0 = dpt_now();
    dpt_err err = {0};
    CU_ASSERT_EQUAL(train_with_fault(&cfg, "worker=1,step=4,kind=fail", &err), DPT_EDEVICE);
    CU_ASSERT(dpt_now() - t0 < 30);
    CU_ASSERT_EQUAL(count_threads(), threads);
    cfg.timeout_s = 1;
    dpt_err_clear(&err);
    CU_ASSERT_EQUAL(train_with_fault(&cfg, "worker=2,step=7,kind=stall", &err), DPT_ETIMEOUT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "timed out after 1 s waiting for worker(s) 2"));
    CU_ASSERT_EQUAL(count_threads(), threads);
    dpt_err_clear(&err);
    CU_ASSERT_EQUAL(train_with_fault(&cfg, "worker=3,step=7,kind=stall", &err), DPT_EINPUT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "DPT_FAULT: worker 3, but the run has 3"));
  }
}

int dpt_test_register(void)
{
  if (make_data() != 0) return CUE_NOREGISTRY;
  static const dpt_test_case resume[] = {
      DPT_TEST(test_stop_after_epoch_then_resume_is_bit_identical),
      DPT_TEST(test_one_epoch_run_resumed_to_three), DPT_TEST(test_mid_epoch_checkpoint_after_failure),
      DPT_TEST(test_stop_mid_epoch), DPT_TEST(test_stop_during_evaluation),
      DPT_TEST(test_mismatched_checkpoint_is_refused), DPT_TEST(test_another_data_set_is_refused),
      DPT_TEST(test_nonfinite_checkpoint_is_refused),
      DPT_TEST(test_diverging_run_resumed_stops_at_the_same_step),
      DPT_TEST(test_epoch_skips_survive_a_resume), DPT_TEST_END};
  static const dpt_test_case faults[] = {DPT_TEST(test_nan_stops_run_and_keeps_checkpoint),
                                         DPT_TEST(test_nan_skip_drops_step_everywhere),
                                         DPT_TEST(test_fail_and_stall_stop_every_thread),
                                         DPT_TEST_END};
  int rc = dpt_test_add_suite("resume", resume);
  return rc ? rc : dpt_test_add_suite("faults", faults);
}
