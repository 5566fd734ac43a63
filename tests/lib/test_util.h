/* Shared helpers of the CUnit test programs. Each tests/test_*.c defines dpt_test_register(),
 * which adds its suites to the CUnit registry; cu_main.c runs them. */
#ifndef DPT_TESTS_LIB_TEST_UTIL_H
#define DPT_TESTS_LIB_TEST_UTIL_H

#include <CUnit/CUnit.h>
#include <stddef.h>

/* Defined by each test program: adds its suites. Returns 0 or a CUnit error. */
int dpt_test_register(void);

/* A fresh empty directory for this test program (removed with its contents at exit). */
const char *dpt_test_tmpdir(void);

/* Joins the temp dir and name into buf; returns buf. */
char *dpt_test_path(char *buf, size_t size, const char *name);

/* Number of i where |got[i] - want[i]| > tol + rel * |want[i]|. */
size_t dpt_test_count_mismatch(const float *got, const float *want, size_t n, float tol, float rel);

/* Registers a suite with its tests in one call: tests is a NULL-terminated array. */
typedef struct dpt_test_case {
  const char *name;
  void (*fn)(void);
} dpt_test_case;
int dpt_test_add_suite(const char *name, const dpt_test_case *tests);

#define DPT_TEST(fn) { #fn, fn }
#define DPT_TEST_END { NULL, NULL }

#endif
