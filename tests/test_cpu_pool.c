/* A CPU device's pool of helper threads (kernels/cpu_pool.c): the parts cover the range once
 * each, and a helper that does not finish in time fails the run, not hangs it: the run returns
 * DPT_ETIMEOUT within its bound, later runs are refused, and close returns while the helper is
 * still stuck (the helper frees the pool once it gets out; ThreadSanitizer: no race, no leak). */
#include <CUnit/CUnit.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "dpt/timer.h"
#include "kernels/cpu_pool.h"
#include "tests/lib/test_util.h"

enum { RANGE = 1000 };

typedef struct counted {
  atomic_int hits[RANGE];
} counted;

static void count_range(const void *args, int r0, int r1)
{
  counted *c = (counted *)args;
  for (int i = r0; i < r1; i++) atomic_fetch_add(&c->hits[i], 1);
}

static void test_parts_cover_the_range_once(void)
{
  cpu_pool *p;
  dpt_err err = {0};
  CU_ASSERT_EQUAL_FATAL(cpu_pool_open(3, 10.0, &p, &err), 0);
  static counted c;
  for (int rows = 0; rows <= 7; rows++) { /* fewer rows than threads too */
    memset(&c, 0, sizeof c);
    CU_ASSERT_EQUAL(cpu_pool_run(p, count_range, &c, rows, &err), 0);
    for (int i = 0; i < RANGE; i++) CU_ASSERT_EQUAL(atomic_load(&c.hits[i]), i < rows ? 1 : 0);
  }
  memset(&c, 0, sizeof c);
  CU_ASSERT_EQUAL(cpu_pool_run(p, count_range, &c, RANGE, &err), 0);
  for (int i = 0; i < RANGE; i++) CU_ASSERT_EQUAL(atomic_load(&c.hits[i]), 1);
  cpu_pool_close(p);
}

/* Part 0 (the caller's) returns at once; the helper's part waits for `release`. */
typedef struct blocking {
  atomic_int release, helper_out;
} blocking;

static void block_helper(const void *args, int r0, int r1)
{
  blocking *b = (blocking *)args;
  if (r0 == 0) return;
  struct timespec nap = {0, 1000000};
  double until = dpt_now() + 60.0; /* the test releases it long before */
  while (!atomic_load(&b->release) && dpt_now() < until) nanosleep(&nap, NULL);
  atomic_store(&b->helper_out, 1);
}

static void test_stuck_helper_fails_the_run(void)
{
  cpu_pool *p;
  dpt_err err = {0};
  CU_ASSERT_EQUAL_FATAL(cpu_pool_open(2, 0.2, &p, &err), 0);
  static blocking b; /* outlives the test: the helper reads it after close */
  double t0 = dpt_now();
  CU_ASSERT_EQUAL(cpu_pool_run(p, block_helper, &b, 2, &err), DPT_ETIMEOUT);
  double waited = dpt_now() - t0;
  CU_ASSERT(waited >= 0.2 && waited < 30.0);
  CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "did not finish its rows within 0.2 s"));
  dpt_err_clear(&err);
  CU_ASSERT_EQUAL(cpu_pool_run(p, count_range, &(counted){0}, 4, &err), DPT_ETIMEOUT);
  CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "stuck in an earlier op"));
  cpu_pool_close(p); /* returns with the helper still stuck */
  CU_ASSERT_EQUAL(atomic_load(&b.helper_out), 0);
  atomic_store(&b.release, 1);
  double until = dpt_now() + 30.0;
  struct timespec nap = {0, 1000000};
  while (!atomic_load(&b.helper_out) && dpt_now() < until) nanosleep(&nap, NULL);
  CU_ASSERT_EQUAL(atomic_load(&b.helper_out), 1);
  /* Let the released helper count itself out and free the pool before the process ends. */
  nap.tv_nsec = 50000000;
  nanosleep(&nap, NULL);
}

int dpt_test_register(void)
{
  static const dpt_test_case pool[] = {DPT_TEST(test_parts_cover_the_range_once),
                                       DPT_TEST(test_stuck_helper_fails_the_run), DPT_TEST_END};
  return dpt_test_add_suite("cpu_pool", pool);
}
