#include "tests/lib/test_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char tmpdir[4096];

static void remove_tmpdir(void)
{
  char cmd[4200];
  if (!tmpdir[0]) return;
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
  if (system(cmd) != 0) fprintf(stderr, "warning: could not remove %s\n", tmpdir);
}

const char *dpt_test_tmpdir(void)
{
  if (tmpdir[0]) return tmpdir;
  const char *base = getenv("DPT_TEST_TMPDIR");
  if (!base || !base[0]) base = "/tmp";
  char mk[4200];
  snprintf(mk, sizeof mk, "mkdir -p '%s'", base);
  if (system(mk) != 0) base = "/tmp";
  snprintf(tmpdir, sizeof tmpdir, "%s/dpt-test-XXXXXX", base);
  if (!mkdtemp(tmpdir)) {
    perror("mkdtemp");
    exit(1);
  }
  atexit(remove_tmpdir);
  return tmpdir;
}

char *dpt_test_path(char *buf, size_t size, const char *name)
{
  snprintf(buf, size, "%s/%s", dpt_test_tmpdir(), name);
  return buf;
}

size_t dpt_test_count_mismatch(const float *got, const float *want, size_t n, float tol, float rel)
{
  size_t bad = 0;
  for (size_t i = 0; i < n; i++) {
    float d = fabsf(got[i] - want[i]);
    if (!(d <= tol + rel * fabsf(want[i]))) bad++;
  }
  return bad;
}

int dpt_test_add_suite(const char *name, const dpt_test_case *tests)
{
  CU_pSuite s = CU_add_suite(name, NULL, NULL);
  if (!s) return CU_get_error();
  for (const dpt_test_case *t = tests; t->name; t++)
    if (!CU_add_test(s, t->name, t->fn)) return CU_get_error();
  return CUE_SUCCESS;
}
