/* The small end-to-end run the trainer's tests start from: a model that learns the generated data
 * set of tests/lib/synth_data.h (1003 samples: 21 global batches of 50 an epoch, the last one
 * partial) to high accuracy in 3 epochs on the CPU. */
#ifndef DPT_TESTS_LIB_TRAIN_FIXTURE_H
#define DPT_TESTS_LIB_TRAIN_FIXTURE_H

#include "dpt/trainer.h"

/* Defaults, then: data_dir, hidden 32,16, 3 epochs, batch 50, lr 0.05, quiet, CPU, timeout 60 s. */
void dpt_test_train_config(dpt_config *cfg, const char *data_dir);

/* The strategies every equivalence test runs, in this order:
 *   DPT_TEST_FOR_EACH_STRATEGY(s) { cfg.strategy = *s; ... } */
extern const dpt_strategy dpt_test_strategies[2];
#define DPT_TEST_FOR_EACH_STRATEGY(s)                                                              \
  for (const dpt_strategy *s = dpt_test_strategies; s < dpt_test_strategies + 2; s++)

/* dpt_train that must succeed (the test stops with the error message otherwise). */
dpt_result dpt_test_train_ok(const dpt_config *cfg);

#endif
