#include "tests/lib/train_fixture.h"

#include <stdio.h>

#include "tests/lib/test_util.h"

const dpt_strategy dpt_test_strategies[2] = {DPT_STRATEGY_ALLREDUCE, DPT_STRATEGY_PS};

void dpt_test_train_config(dpt_config *cfg, const char *data_dir)
{
  dpt_config_defaults(cfg);
  cfg->data_dir = data_dir;
  cfg->hidden[0] = 32;
  cfg->hidden[1] = 16;
  cfg->n_hidden = 2;
  cfg->epochs = 3;
  cfg->batch = 50;
  cfg->schedule.base_lr = 0.05f;
  cfg->quiet = true;
  cfg->device = DPT_DEVICE_SELECT_CPU;
  cfg->timeout_s = 60;
}

dpt_result dpt_test_train_ok(const dpt_config *cfg)
{
  dpt_result r;
  dpt_err err = {0};
  int rc = dpt_train(cfg, NULL, &r, &err);
  if (rc) fprintf(stderr, "train failed: %s\n", err.msg);
  CU_ASSERT_FATAL(rc == 0);
  return r;
}
