/* The progress bar's line: at every terminal width it fits in the width less one column; while it
 * is too wide the rate goes first, then the bar, then the run's ETA. */
#include <string.h>

#include "host/cli/progress_line.h"
#include "tests/lib/test_util.h"

static const dpt_progress halfway = {.epoch = 3, .epochs = 10, .step_in_epoch = 117,
                                     .steps_per_epoch = 235, .samples_per_sec = 42613,
                                     .epoch_eta_s = 2.9, .run_eta_s = 212};

static void test_fits_every_width(void)
{
  char line[512];
  for (int columns = 1; columns <= 200; columns++) {
    int len = dpt_progress_line(&halfway, columns, line, sizeof line);
    CU_ASSERT_EQUAL(len, (int)strlen(line));
    CU_ASSERT(len <= (columns > 1 ? columns - 1 : 1));
  }
}

static void test_what_each_width_shows(void)
{
  char line[512];
  dpt_progress_line(&halfway, 120, line, sizeof line);
  CU_ASSERT_STRING_EQUAL(line, "epoch 3/10 [==============>               ]  49%  42613 samples/s"
                               "  ETA epoch 3s, run 3m32s");
  dpt_progress_line(&halfway, 50, line, sizeof line); /* no room for the rate */
  CU_ASSERT_STRING_EQUAL(line, "epoch 3/10 [==>   ]  49%  ETA epoch 3s, run 3m32s");
  dpt_progress_line(&halfway, 45, line, sizeof line); /* nor for the bar */
  CU_ASSERT_STRING_EQUAL(line, "epoch 3/10  49%  ETA epoch 3s, run 3m32s");
  dpt_progress_line(&halfway, 40, line, sizeof line); /* nor for the run's ETA */
  CU_ASSERT_STRING_EQUAL(line, "epoch 3/10  49%  ETA epoch 3s");
  dpt_progress stalled = halfway;
  stalled.run_eta_s = -1;
  stalled.epoch_eta_s = 7300;
  dpt_progress_line(&stalled, 40, line, sizeof line);
  CU_ASSERT_STRING_EQUAL(line, "epoch 3/10  49%  ETA epoch 2h01m, run ?");
}

int dpt_test_register(void)
{
  static const dpt_test_case tests[] = {DPT_TEST(test_fits_every_width),
                                        DPT_TEST(test_what_each_width_shows), DPT_TEST_END};
  return dpt_test_add_suite("progress_line", tests);
}
