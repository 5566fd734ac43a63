#include "tests/lib/cuda_present.h"

#include <CUnit/CUnit.h>
#include <stdio.h>

#include "dpt/device.h"
#include "dpt/status.h"

int dpt_test_cuda_devices(const char *program, const char *const *suites, size_t n)
{
  int count = 0;
  dpt_err why = {0};
  if (dpt_cuda_device_count(&count, &why) == DPT_OK && count > 0) return count;
  printf("%s: skipped: no CUDA device here (%s)\n", program,
         why.msg[0] ? why.msg
         : why.code ? dpt_code_name(why.code)
                    : "the runtime found none");
  for (size_t i = 0; i < n; i++) CU_set_suite_active(CU_get_suite(suites[i]), CU_FALSE);
  return 0;
}
