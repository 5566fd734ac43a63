/* End to end on a generated data set: learning, determinism, N workers vs 1, allreduce vs ps,
 * odd splits, replica checks, and bad input. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dpt/trainer.h"
#include "tests/lib/synth_data.h"
#include "tests/lib/test_util.h"
#include "tests/lib/train_fixture.h"

static char data_dir[4096];

static int make_data(void)
{
  dpt_test_path(data_dir, sizeof data_dir, "synth");
  char cmd[4200];
  snprintf(cmd, sizeof cmd, "mkdir -p '%s'", data_dir);
  if (system(cmd) != 0) return -1;
  /* 1003 training samples: the last global batch is partial for every batch size used below. */
  return dpt_synth_write(data_dir, 1003, 300, 6, 7, 5, 99);
}

static void base_config(dpt_config *cfg) { dpt_test_train_config(cfg, data_dir); }

static dpt_result train_ok(const dpt_config *cfg) { return dpt_test_train_ok(cfg); }

static void test_learns_synthetic_data(void)
{
  dpt_config cfg;
  base_config(&cfg);
  dpt_result r = train_ok(&cfg);
  /* 5 well-separated classes: chance is 0.2; the model must get nearly all right. */
  CU_ASSERT(r.test_accuracy >= 0.95);
  CU_ASSERT(r.final_train_loss < 0.3);
  CU_ASSERT_EQUAL(r.params, 42 * 32 + 32 + 32 * 16 + 16 + 16 * 5 + 5);
  CU_ASSERT_EQUAL(r.steps, 3 * 21);
  CU_ASSERT(r.train_samples_per_sec > 0);
}

static void test_same_seed_same_hash(void)
{
  dpt_config cfg;
  base_config(&cfg);
  cfg.epochs = 1;
  dpt_result a = train_ok(&cfg), b = train_ok(&cfg);
  CU_ASSERT_EQUAL(a.params_hash, b.params_hash);
  cfg.seed = 2;
  dpt_result c = train_ok(&cfg);
  CU_ASSERT_NOT_EQUAL(a.params_hash, c.params_hash);
}

static void test_allreduce_and_ps_bit_identical(void)
{
  dpt_config cfg;
  base_config(&cfg);
  cfg.epochs = 2;
  for (int workers = 1; workers <= 3; workers++) {
    cfg.workers = workers;
    cfg.strategy = DPT_STRATEGY_ALLREDUCE;
    dpt_result ar = train_ok(&cfg);
    cfg.strategy = DPT_STRATEGY_PS;
    cfg.ps_shards = workers + 1;
    dpt_result ps = train_ok(&cfg);
    cfg.ps_shards = 0;
    CU_ASSERT_EQUAL(ar.params_hash, ps.params_hash);
    CU_ASSERT_DOUBLE_EQUAL(ar.test_accuracy, ps.test_accuracy, 0.0);
  }
}

static void test_workers_match_single_worker(void)
{
  dpt_config cfg;
  base_config(&cfg);
  cfg.epochs = 2;
  dpt_result one = train_ok(&cfg);
  /* 3 and 7 do not divide the batch of 50; 7 workers exceed the 2 cores of CI machines. */
  int counts[] = {2, 3, 7};
  for (int i = 0; i < 3; i++) {
    cfg.workers = counts[i];
    dpt_result many = train_ok(&cfg);
    CU_ASSERT(fabs(many.final_train_loss - one.final_train_loss) < 1e-3);
    CU_ASSERT(fabs(many.test_accuracy - one.test_accuracy) <= 0.01);
    CU_ASSERT_EQUAL(many.workers, counts[i]);
    CU_ASSERT_EQUAL(many.blas_threads, 1);
  }
}

/* A small CNN (6 x 7 images: 6 x 7 -> 3 x 3 after the pool) the same way: allreduce and ps give
 * the same bits, N workers what one does. */
static void cnn_config(dpt_config *cfg)
{
  base_config(cfg);
  cfg->model = "conv:4:3,relu,maxpool:2,conv:6:3,relu,fc:16,relu,fc";
  cfg->epochs = 2;
}

static void test_cnn_allreduce_and_ps_bit_identical(void)
{
  dpt_config cfg;
  cnn_config(&cfg);
  for (int workers = 1; workers <= 3; workers += 2) {
    cfg.workers = workers;
    cfg.strategy = DPT_STRATEGY_ALLREDUCE;
    dpt_result ar = train_ok(&cfg);
    cfg.strategy = DPT_STRATEGY_PS;
    dpt_result ps = train_ok(&cfg);
    CU_ASSERT_EQUAL(ar.params_hash, ps.params_hash);
    CU_ASSERT_DOUBLE_EQUAL(ar.test_accuracy, ps.test_accuracy, 0.0);
    CU_ASSERT(ar.test_accuracy >= 0.9);
  }
}

static void test_cnn_workers_match_single_worker(void)
{
  dpt_config cfg;
  cnn_config(&cfg);
  dpt_result one = train_ok(&cfg);
  int counts[] = {2, 3};
  for (int i = 0; i < 2; i++) {
    cfg.workers = counts[i];
    cfg.check_replicas = true;
    dpt_result many = train_ok(&cfg);
    CU_ASSERT(fabs(many.final_train_loss - one.final_train_loss) < 1e-3);
    CU_ASSERT(fabs(many.test_accuracy - one.test_accuracy) <= 0.01);
  }
}

static void test_more_workers_than_batch_rows(void)
{
  dpt_config cfg;
  base_config(&cfg);
  cfg.epochs = 1;
  cfg.batch = 4;
  cfg.workers = 6; /* two workers idle in every step; the last batch of 3 leaves three idle */
  cfg.check_replicas = true;
  DPT_TEST_FOR_EACH_STRATEGY(s) {
    cfg.strategy = *s;
    dpt_result r = train_ok(&cfg);
    CU_ASSERT(r.test_accuracy > 0.5);
  }
}

static void test_check_replicas_passes(void)
{
  dpt_config cfg;
  base_config(&cfg);
  cfg.epochs = 1;
  cfg.workers = 3;
  cfg.check_replicas = true;
  dpt_result r = train_ok(&cfg);
  CU_ASSERT(r.time_comm_s > 0);
  CU_ASSERT(r.bytes_per_step > 0);
}

static void test_missing_data_dir_is_input_error(void)
{
  dpt_config cfg;
  base_config(&cfg);
  cfg.data_dir = "/nonexistent/dptrain-data";
  dpt_result r;
  dpt_err err = {0};
  CU_ASSERT_EQUAL(dpt_train(&cfg, NULL, &r, &err), DPT_EINPUT);
  CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "/nonexistent/dptrain-data"));
}

static void test_too_many_ps_shards_is_input_error(void)
{
  dpt_config cfg;
  base_config(&cfg);
  cfg.strategy = DPT_STRATEGY_PS;
  cfg.ps_shards = 1 << 30;
  dpt_result r;
  dpt_err err = {0};
  CU_ASSERT_EQUAL(dpt_train(&cfg, NULL, &r, &err), DPT_EINPUT);
  CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "--ps-shards"));
}

int dpt_test_register(void)
{
  if (make_data() != 0) return CUE_NOREGISTRY;
  static const dpt_test_case learn[] = {DPT_TEST(test_learns_synthetic_data),
                                        DPT_TEST(test_same_seed_same_hash), DPT_TEST_END};
  static const dpt_test_case parallel[] = {DPT_TEST(test_allreduce_and_ps_bit_identical),
                                           DPT_TEST(test_workers_match_single_worker),
                                           DPT_TEST(test_cnn_allreduce_and_ps_bit_identical),
                                           DPT_TEST(test_cnn_workers_match_single_worker),
                                           DPT_TEST(test_more_workers_than_batch_rows),
                                           DPT_TEST(test_check_replicas_passes), DPT_TEST_END};
  static const dpt_test_case bad[] = {DPT_TEST(test_missing_data_dir_is_input_error),
                                      DPT_TEST(test_too_many_ps_shards_is_input_error),
                                      DPT_TEST_END};
  int rc = dpt_test_add_suite("train", learn);
  if (!rc) rc = dpt_test_add_suite("data_parallel", parallel);
  return rc ? rc : dpt_test_add_suite("train_bad_input", bad);
}
