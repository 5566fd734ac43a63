/* common/: RNG reproducibility, hashing, the abortable barrier, and the memory room. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "dpt/barrier.h"
#include "dpt/hash.h"
#include "dpt/mem_room.h"
#include "dpt/rng.h"
#include "dpt/timer.h"
#include "tests/lib/test_util.h"

static void test_rng_known_sequence(void)
{
  /* Pinned values: a change here changes every seeded run on every platform. */
  dpt_rng r;
  dpt_rng_seed(&r, 42);
  uint64_t a = dpt_rng_u64(&r), b = dpt_rng_u64(&r);
  dpt_rng r2;
  dpt_rng_seed(&r2, 42);
  CU_ASSERT_EQUAL(dpt_rng_u64(&r2), a);
  CU_ASSERT_EQUAL(dpt_rng_u64(&r2), b);
  dpt_rng_seed(&r2, 43);
  CU_ASSERT_NOT_EQUAL(dpt_rng_u64(&r2), a);
}

static void test_rng_below_and_uniform_ranges(void)
{
  dpt_rng r;
  dpt_rng_seed(&r, 7);
  int hist[5] = {0};
  for (int i = 0; i < 50000; i++) {
    uint64_t x = dpt_rng_below(&r, 5);
    CU_ASSERT_FATAL(x < 5);
    hist[x]++;
    float u = dpt_rng_uniform(&r);
    CU_ASSERT(u >= 0.f && u < 1.f);
  }
  for (int i = 0; i < 5; i++) CU_ASSERT(hist[i] > 9000 && hist[i] < 11000);
}

static void test_rng_normal_moments(void)
{
  dpt_rng r;
  dpt_rng_seed(&r, 1);
  double s = 0, s2 = 0;
  const int n = 200000;
  for (int i = 0; i < n; i++) {
    double x = dpt_rng_normal(&r);
    s += x;
    s2 += x * x;
  }
  double mean = s / n, var = s2 / n - mean * mean;
  CU_ASSERT(mean > -0.01 && mean < 0.01);
  CU_ASSERT(var > 0.98 && var < 1.02);
}

static void test_shuffle_is_permutation(void)
{
  uint32_t idx[1000];
  for (uint32_t i = 0; i < 1000; i++) idx[i] = i;
  dpt_rng r;
  dpt_rng_seed(&r, 3);
  dpt_rng_shuffle_u32(&r, idx, 1000);
  int seen[1000] = {0}, moved = 0;
  for (uint32_t i = 0; i < 1000; i++) {
    seen[idx[i]]++;
    moved += idx[i] != i;
  }
  for (int i = 0; i < 1000; i++) CU_ASSERT_EQUAL(seen[i], 1);
  CU_ASSERT(moved > 900);
}

static void test_hash_fnv1a_reference(void)
{
  /* FNV-1a 64 reference values: "" and "a". */
  CU_ASSERT_EQUAL(dpt_hash_bytes(DPT_HASH_INIT, "", 0), 0xcbf29ce484222325ULL);
  CU_ASSERT_EQUAL(dpt_hash_bytes(DPT_HASH_INIT, "a", 1), 0xaf63dc4c8601ec8cULL);
}

typedef struct {
  dpt_barrier *b;
  int party, rounds, failed_code;
  int *counter;
  pthread_mutex_t *mu;
} barrier_arg;

static void *barrier_worker(void *p)
{
  barrier_arg *a = p;
  dpt_err err = {0};
  for (int r = 0; r < a->rounds; r++) {
    pthread_mutex_lock(a->mu);
    (*a->counter)++;
    pthread_mutex_unlock(a->mu);
    int rc = dpt_barrier_wait(a->b, a->party, &err);
    if (rc) {
      a->failed_code = rc;
      return NULL;
    }
  }
  return NULL;
}

static void test_barrier_rounds(void)
{
  enum { N = 4, ROUNDS = 500 };
  dpt_barrier b;
  dpt_err err = {0};
  CU_ASSERT_FATAL(dpt_barrier_init(&b, N, 10.0, &err) == 0);
  pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
  int counter = 0;
  pthread_t t[N];
  barrier_arg a[N];
  for (int i = 0; i < N; i++) {
    a[i] = (barrier_arg){&b, i, ROUNDS, 0, &counter, &mu};
    pthread_create(&t[i], NULL, barrier_worker, &a[i]);
  }
  for (int i = 0; i < N; i++) {
    pthread_join(t[i], NULL);
    CU_ASSERT_EQUAL(a[i].failed_code, 0);
  }
  CU_ASSERT_EQUAL(counter, N * ROUNDS);
  dpt_barrier_destroy(&b);
}

static void test_barrier_timeout_names_missing_party(void)
{
  dpt_barrier b;
  dpt_err err = {0};
  CU_ASSERT_FATAL(dpt_barrier_init(&b, 3, 0.2, &err) == 0);
  pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
  int counter = 0;
  barrier_arg a = {&b, 0, 1, 0, &counter, &mu};
  pthread_t t;
  pthread_create(&t, NULL, barrier_worker, &a);
  int rc = dpt_barrier_wait(&b, 1, &err); /* party 2 never comes */
  pthread_join(t, NULL);
  CU_ASSERT_EQUAL(rc, DPT_ETIMEOUT);
  CU_ASSERT_EQUAL(a.failed_code, DPT_ETIMEOUT);
  CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "worker(s) 2"));
  dpt_barrier_destroy(&b);
}

static void test_barrier_abort_wakes_waiters(void)
{
  dpt_barrier b;
  dpt_err err = {0};
  CU_ASSERT_FATAL(dpt_barrier_init(&b, 3, 0, &err) == 0); /* no timeout: only abort can wake */
  pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
  int counter = 0;
  barrier_arg a[2];
  pthread_t t[2];
  for (int i = 0; i < 2; i++) {
    a[i] = (barrier_arg){&b, i, 1, 0, &counter, &mu};
    pthread_create(&t[i], NULL, barrier_worker, &a[i]);
  }
  dpt_barrier_abort(&b, DPT_EDEVICE, "worker 2: boom");
  for (int i = 0; i < 2; i++) {
    pthread_join(t[i], NULL);
    CU_ASSERT_EQUAL(a[i].failed_code, DPT_EDEVICE);
  }
  CU_ASSERT_EQUAL(dpt_barrier_wait(&b, 2, &err), DPT_EDEVICE);
  CU_ASSERT_STRING_EQUAL(err.msg, "worker 2: boom");
  dpt_barrier_destroy(&b);
}

static void test_barrier_names_parties_from_first(void)
{
  dpt_barrier b;
  dpt_err err = {0};
  CU_ASSERT_FATAL(dpt_barrier_init(&b, 2, 0.1, &err) == 0);
  dpt_barrier_name_from(&b, 4); /* the workers 4 and 5 of a run over processes */
  CU_ASSERT_EQUAL(dpt_barrier_wait(&b, 0, &err), DPT_ETIMEOUT);
  CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "waiting for worker(s) 5"));
  dpt_barrier_destroy(&b);
}

/* Party 0 of a 2-party barrier whose busy period the test began: after busy_s, or as soon as the
 * barrier fails, it goes idle, then arrives unless told not to. */
typedef struct busy_arg {
  dpt_barrier *b;
  double busy_s;
  bool arrives;
  int rc;
} busy_arg;

static void *busy_party(void *p)
{
  busy_arg *a = p;
  double until = dpt_now() + a->busy_s;
  while (dpt_now() < until && !atomic_load(&a->b->abort_code)) dpt_sleep(0.01);
  dpt_barrier_idle(a->b);
  dpt_err err = {0};
  if (a->arrives) a->rc = dpt_barrier_wait(a->b, 0, &err);
  return NULL;
}

/* Waits as party 1 while party 0 is busy "saving a checkpoint" for busy_s with the given bound. */
static int wait_for_busy_party(double timeout_s, double busy_s, double limit_s, bool arrives,
                               busy_arg *a, dpt_err *err)
{
  dpt_barrier b;
  CU_ASSERT_FATAL(dpt_barrier_init(&b, 2, timeout_s, err) == 0);
  *a = (busy_arg){&b, busy_s, arrives, -1};
  dpt_barrier_busy(&b, 0, "saving a checkpoint", limit_s); /* before the wait's clock starts */
  pthread_t t;
  pthread_create(&t, NULL, busy_party, a);
  int rc = dpt_barrier_wait(&b, 1, err);
  pthread_join(t, NULL);
  dpt_barrier_destroy(&b);
  return rc;
}

static void test_barrier_busy_party_is_not_counted(void)
{
  busy_arg a;
  dpt_err err = {0};
  /* Busy three times the timeout: without the busy note the wait times out after 0.7 s. */
  CU_ASSERT_EQUAL(wait_for_busy_party(0.7, 2.1, 10, true, &a, &err), DPT_OK);
  CU_ASSERT_EQUAL(a.rc, DPT_OK);
}

static void test_barrier_busy_party_is_bounded(void)
{
  busy_arg a;
  dpt_err err = {0};
  /* Busy until the wait fails (10 s without the bound, when the wait would succeed). */
  CU_ASSERT_EQUAL(wait_for_busy_party(0.2, 10, 0.3, true, &a, &err), DPT_ETIMEOUT);
  CU_ASSERT_PTR_NOT_NULL(strstr(
      err.msg, "waiting for worker(s) 0: worker 0 has been saving a checkpoint for more than 0.3 s"));
  CU_ASSERT_EQUAL(a.rc, DPT_ETIMEOUT); /* it arrives to find the barrier failed */
}

static void test_barrier_timeout_after_busy_says_so(void)
{
  busy_arg a;
  dpt_err err = {0};
  /* Party 0 saves, then never arrives: the wait times out once 0.2 s passed beyond the save. */
  CU_ASSERT_EQUAL(wait_for_busy_party(0.2, 0.3, 10, false, &a, &err), DPT_ETIMEOUT);
  CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "timed out after 0.2 s waiting for worker(s) 0 (not "
                                         "counting the "));
  CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, " s worker 0 spent saving a checkpoint)"));
}

/* The drop hook of a barrier whose parties may leave: records who it was handed, and lets them
 * leave unless told to keep them. Every waiter that times out calls it, so two waiters timing out
 * together may both hand the same party over. */
typedef struct drop_log {
  dpt_barrier *b;
  pthread_mutex_t mu;
  int dropped[4], n;
  bool keep;
} drop_log;

static void drop_party(void *ctx, int party, const char *why)
{
  drop_log *log = ctx;
  pthread_mutex_lock(&log->mu);
  if (log->n < 4) log->dropped[log->n++] = party;
  pthread_mutex_unlock(&log->mu);
  if (!log->keep) dpt_barrier_leave(log->b, party);
}

static void test_barrier_leave_releases_the_others(void)
{
  dpt_barrier b;
  dpt_err err = {0};
  CU_ASSERT_FATAL(dpt_barrier_init(&b, 3, 0, &err) == 0); /* no timeout: only the leave frees */
  pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
  int counter = 0;
  barrier_arg a[2];
  pthread_t t[2];
  for (int i = 0; i < 2; i++) {
    a[i] = (barrier_arg){&b, i, 3, 0, &counter, &mu}; /* three rounds without party 2 */
    pthread_create(&t[i], NULL, barrier_worker, &a[i]);
  }
  dpt_sleep(0.05);
  dpt_barrier_leave(&b, 2);
  dpt_barrier_leave(&b, 2); /* twice: once counts */
  for (int i = 0; i < 2; i++) {
    pthread_join(t[i], NULL);
    CU_ASSERT_EQUAL(a[i].failed_code, 0);
  }
  CU_ASSERT_EQUAL(counter, 6);
  dpt_barrier_destroy(&b);
}

static void test_barrier_timeout_hands_missing_parties_over(void)
{
  dpt_barrier b;
  dpt_err err = {0};
  CU_ASSERT_FATAL(dpt_barrier_init(&b, 3, 0.2, &err) == 0);
  drop_log log = {.b = &b, .mu = PTHREAD_MUTEX_INITIALIZER};
  dpt_barrier_on_timeout(&b, drop_party, &log);
  pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
  int counter = 0;
  barrier_arg a = {&b, 0, 2, 0, &counter, &mu};
  pthread_t t;
  pthread_create(&t, NULL, barrier_worker, &a);
  CU_ASSERT_EQUAL(dpt_barrier_wait(&b, 1, &err), DPT_OK); /* party 2 never comes: dropped */
  CU_ASSERT_EQUAL(dpt_barrier_wait(&b, 1, &err), DPT_OK); /* and no longer waited for */
  pthread_join(t, NULL);
  CU_ASSERT_EQUAL(a.failed_code, 0);
  CU_ASSERT(log.n == 1 || log.n == 2); /* by one waiter or both, party 2 each time */
  for (int i = 0; i < log.n; i++) CU_ASSERT_EQUAL(log.dropped[i], 2);
  dpt_barrier_destroy(&b);
}

static void test_barrier_timeout_aborts_when_the_hook_keeps_them(void)
{
  dpt_barrier b;
  dpt_err err = {0};
  CU_ASSERT_FATAL(dpt_barrier_init(&b, 2, 0.2, &err) == 0);
  drop_log log = {.b = &b, .mu = PTHREAD_MUTEX_INITIALIZER, .keep = true};
  dpt_barrier_on_timeout(&b, drop_party, &log);
  CU_ASSERT_EQUAL(dpt_barrier_wait(&b, 0, &err), DPT_ETIMEOUT);
  CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "waiting for worker(s) 1"));
  CU_ASSERT_EQUAL(log.n, 1);
  dpt_barrier_destroy(&b);
}

/* The room under ulimit -v is the limit less what the process maps already (VmSize). */
static void test_mem_room_under_address_limit(void)
{
  struct rlimit saved, lowered;
  CU_ASSERT_FATAL(getrlimit(RLIMIT_AS, &saved) == 0);
  unsigned long pages = 0;
  FILE *f = fopen("/proc/self/statm", "r");
  CU_ASSERT_FATAL(f && fscanf(f, "%lu", &pages) == 1);
  fclose(f);
  double mapped = (double)pages * (double)sysconf(_SC_PAGESIZE), extra = 256.0 * 1024 * 1024;
  lowered = saved;
  lowered.rlim_cur = (rlim_t)(mapped + extra);
  if (saved.rlim_cur != RLIM_INFINITY && lowered.rlim_cur > saved.rlim_cur) {
    fprintf(stderr, "\n  not run: RLIMIT_AS is already below what the test would set\n");
    return;
  }
  CU_ASSERT_FATAL(setrlimit(RLIMIT_AS, &lowered) == 0);
  bool limited = dpt_mem_limited();
  dpt_mem_room room;
  dpt_mem_room_now(&room);
  CU_ASSERT_FATAL(setrlimit(RLIMIT_AS, &saved) == 0);
  CU_ASSERT(limited);
  /* The process maps a little more while it measures: a few MiB at most. */
  CU_ASSERT(room.address <= extra && room.address > extra - 16.0 * 1024 * 1024);
  CU_ASSERT(room.ram > 0 && room.ram_source != NULL);
  dpt_mem_room_now(&room);
  CU_ASSERT(saved.rlim_cur != RLIM_INFINITY || isinf(room.address));
}

static void test_mem_format(void)
{
  char buf[32];
  CU_ASSERT_STRING_EQUAL(dpt_mem_format(300.0 * 1024 * 1024, buf, sizeof buf), "300 MiB");
  CU_ASSERT_STRING_EQUAL(dpt_mem_format(1.5 * 1024 * 1024, buf, sizeof buf), "2 MiB");
  CU_ASSERT_STRING_EQUAL(dpt_mem_format(9.0 * 1024 * 1024 * 1024, buf, sizeof buf), "9.00 GiB");
}

int dpt_test_register(void)
{
  static const dpt_test_case rng[] = {DPT_TEST(test_rng_known_sequence),
                                      DPT_TEST(test_rng_below_and_uniform_ranges),
                                      DPT_TEST(test_rng_normal_moments),
                                      DPT_TEST(test_shuffle_is_permutation),
                                      DPT_TEST(test_hash_fnv1a_reference), DPT_TEST_END};
  static const dpt_test_case barrier[] = {DPT_TEST(test_barrier_rounds),
                                          DPT_TEST(test_barrier_timeout_names_missing_party),
                                          DPT_TEST(test_barrier_abort_wakes_waiters),
                                          DPT_TEST(test_barrier_names_parties_from_first),
                                          DPT_TEST(test_barrier_busy_party_is_not_counted),
                                          DPT_TEST(test_barrier_busy_party_is_bounded),
                                          DPT_TEST(test_barrier_timeout_after_busy_says_so),
                                          DPT_TEST(test_barrier_leave_releases_the_others),
                                          DPT_TEST(test_barrier_timeout_hands_missing_parties_over),
                                          DPT_TEST(test_barrier_timeout_aborts_when_the_hook_keeps_them),
                                          DPT_TEST_END};
  static const dpt_test_case memory[] = {DPT_TEST(test_mem_room_under_address_limit),
                                         DPT_TEST(test_mem_format), DPT_TEST_END};
  int rc = dpt_test_add_suite("rng_hash", rng);
  if (!rc) rc = dpt_test_add_suite("barrier", barrier);
  return rc ? rc : dpt_test_add_suite("memory", memory);
}
