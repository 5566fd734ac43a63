/* The main of every CUnit test program: runs the suites dpt_test_register() added.
 * Exit status: 0 all ran tests passed, 1 a failure, 77 (ctest: skipped) when every suite was
 * inactive, e.g. GPU suites on a machine without a GPU: the program then says why in a line
 * "NAME: skipped: REASON", which scripts/test.sh's summary shows (scripts/ctest_skips.sh). */
#include <CUnit/Basic.h>
#include <stdio.h>

#include "tests/lib/test_util.h"

int main(void)
{
  if (CU_initialize_registry() != CUE_SUCCESS) return 1;
  if (dpt_test_register() != CUE_SUCCESS) {
    fprintf(stderr, "test registration failed: %s\n", CU_get_error_msg());
    CU_cleanup_registry();
    return 1;
  }
  CU_set_fail_on_inactive(CU_FALSE);
  CU_basic_set_mode(CU_BRM_VERBOSE);
  CU_basic_run_tests();
  unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
  unsigned ran = CU_get_number_of_tests_run();
  unsigned inactive = CU_get_number_of_suites_inactive();
  CU_cleanup_registry();
  if (failed) return 1;
  if (ran == 0 && inactive > 0) {
    printf("all suites inactive here: reported as skipped\n");
    return 77;
  }
  return ran == 0 ? 1 : 0;
}
