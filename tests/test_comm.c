/* host/comm/comm_threads.c: the in-process allreduce and broadcast on exactly checkable data, their
 * reduction order, reuse over many rounds, and that abort and timeouts stop every rank. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dpt/comm.h"
#include "dpt/rng.h"
#include "host/comm/comm_threads_wait.h"
#include "tests/lib/test_util.h"

enum { MAX_RANKS = 5 };

/* One rank's thread: runs `body` with its communicator handle and reports what it saw. */
typedef struct rank_job {
  dpt_comm comm;
  size_t n;
  int rounds;
  float *buf;
  size_t wrong; /* elements that differed from the expected value, over all rounds */
  int rc;
  dpt_err err;
} rank_job;

static void run_ranks(dpt_comm_threads *g, int size, rank_job *jobs, void *(*body)(void *))
{
  pthread_t t[MAX_RANKS];
  for (int r = 0; r < size; r++) {
    jobs[r].comm = dpt_comm_threads_rank(g, r);
    CU_ASSERT_FATAL(pthread_create(&t[r], NULL, body, &jobs[r]) == 0);
  }
  for (int r = 0; r < size; r++) pthread_join(t[r], NULL);
}

/* Rank r holds (r+1) * (i%7 + 1) + round: sums are small integers, exact in float. */
static float int_value(int rank, size_t i, int round)
{
  return (float)((rank + 1) * (int)(i % 7 + 1) + round);
}

static float int_sum(int size, size_t i, int round)
{
  float s = 0;
  for (int r = 0; r < size; r++) s += int_value(r, i, round);
  return s;
}

static void *allreduce_int_rounds(void *p)
{
  rank_job *j = p;
  for (int round = 0; round < j->rounds && !j->rc; round++) {
    for (size_t i = 0; i < j->n; i++) j->buf[i] = int_value(j->comm.rank, i, round);
    j->rc = dpt_comm_allreduce_sum(&j->comm, j->buf, j->n, &j->err);
    for (size_t i = 0; i < j->n && !j->rc; i++)
      j->wrong += j->buf[i] != int_sum(j->comm.size, i, round);
  }
  return NULL;
}

/* Runs `rounds` allreduces of n floats on size ranks; every rank must see 0 wrong elements. */
static void check_allreduce(int size, size_t n, int rounds)
{
  dpt_comm_threads *g;
  dpt_err err = {0};
  CU_ASSERT_FATAL(dpt_comm_threads_create(size, 10.0, &g, &err) == 0);
  rank_job jobs[MAX_RANKS];
  memset(jobs, 0, sizeof jobs);
  for (int r = 0; r < size; r++) {
    jobs[r].n = n;
    jobs[r].rounds = rounds;
    jobs[r].buf = calloc(n, sizeof(float));
  }
  run_ranks(g, size, jobs, allreduce_int_rounds);
  for (int r = 0; r < size; r++) {
    CU_ASSERT_EQUAL(jobs[r].rc, 0);
    CU_ASSERT_EQUAL(jobs[r].wrong, 0);
    if (jobs[r].rc || jobs[r].wrong)
      fprintf(stderr, "size %d n %zu rank %d: rc %d (%s), %zu wrong\n", size, n, r, jobs[r].rc,
              jobs[r].err.msg, jobs[r].wrong);
    free(jobs[r].buf);
  }
  dpt_comm_threads_destroy(g);
}

static void test_allreduce_exact_all_sizes(void)
{
  static const size_t ns[] = {1, 3, 17, 1000, 65537};
  for (int size = 1; size <= MAX_RANKS; size++)
    for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++) check_allreduce(size, ns[k], 1);
}

static void test_allreduce_reused_for_100_rounds(void) { check_allreduce(3, 1001, 100); }

static void test_allreduce_bytes_like_busbw(void)
{
  dpt_comm_threads *g1, *g4;
  dpt_err err = {0};
  CU_ASSERT_FATAL(dpt_comm_threads_create(1, 1.0, &g1, &err) == 0);
  CU_ASSERT_FATAL(dpt_comm_threads_create(4, 1.0, &g4, &err) == 0);
  dpt_comm c1 = dpt_comm_threads_rank(g1, 0), c4 = dpt_comm_threads_rank(g4, 3);
  CU_ASSERT_EQUAL(dpt_comm_allreduce_bytes(&c1, 1000), 0);
  CU_ASSERT_EQUAL(dpt_comm_allreduce_bytes(&c4, 1000), 2 * 3 * 1000 * 4 / 4);
  CU_ASSERT_EQUAL(c4.rank, 3);
  CU_ASSERT_EQUAL(c4.size, 4);
  dpt_comm_threads_destroy(g1);
  dpt_comm_threads_destroy(g4);
}

/* ---- reduction order ---- */

/* Floats of wildly different magnitudes: the sum depends on the order it is taken in. */
static void fill_order_sensitive(float *buf, size_t n, int rank)
{
  dpt_rng rng;
  dpt_rng_seed(&rng, 100 + (uint64_t)rank);
  for (size_t i = 0; i < n; i++) {
    float scale = (float)(1u << dpt_rng_below(&rng, 24));
    buf[i] = (dpt_rng_uniform(&rng) - 0.5f) * scale;
  }
}

static void *allreduce_order_sensitive(void *p)
{
  rank_job *j = p;
  fill_order_sensitive(j->buf, j->n, j->comm.rank);
  j->rc = dpt_comm_allreduce_sum(&j->comm, j->buf, j->n, &j->err);
  return NULL;
}

static void test_allreduce_sums_in_rank_order(void)
{
  enum { SIZE = 4, N = 4099 };
  static float in[SIZE][N], want[N], reversed[N];
  for (int r = 0; r < SIZE; r++) fill_order_sensitive(in[r], N, r);
  size_t order_matters = 0;
  for (size_t i = 0; i < N; i++) {
    float acc = in[0][i], back = in[SIZE - 1][i];
    for (int r = 1; r < SIZE; r++) acc = acc + in[r][i];
    for (int r = SIZE - 2; r >= 0; r--) back = back + in[r][i];
    want[i] = acc;
    reversed[i] = back;
    order_matters += memcmp(&want[i], &reversed[i], sizeof(float)) != 0;
  }
  CU_ASSERT_FATAL(order_matters > N / 10); /* else this test could not tell orders apart */

  dpt_comm_threads *g;
  dpt_err err = {0};
  CU_ASSERT_FATAL(dpt_comm_threads_create(SIZE, 10.0, &g, &err) == 0);
  rank_job jobs[SIZE];
  memset(jobs, 0, sizeof jobs);
  static float bufs[SIZE][N];
  for (int r = 0; r < SIZE; r++) jobs[r] = (rank_job){.n = N, .buf = bufs[r]};
  run_ranks(g, SIZE, jobs, allreduce_order_sensitive);
  for (int r = 0; r < SIZE; r++) {
    CU_ASSERT_EQUAL(jobs[r].rc, 0);
    CU_ASSERT_EQUAL(memcmp(bufs[r], want, sizeof want), 0);
  }
  dpt_comm_threads_destroy(g);
}

/* ---- broadcast ---- */

static void *broadcast_from_2(void *p)
{
  rank_job *j = p;
  for (size_t i = 0; i < j->n; i++) j->buf[i] = j->comm.rank == 2 ? (float)(i * 3) : -1.f;
  j->rc = dpt_comm_broadcast(&j->comm, j->buf, j->n, 2, &j->err);
  for (size_t i = 0; i < j->n && !j->rc; i++) j->wrong += j->buf[i] != (float)(i * 3);
  return NULL;
}

static void test_broadcast_copies_root(void)
{
  enum { SIZE = 4, N = 777 };
  dpt_comm_threads *g;
  dpt_err err = {0};
  CU_ASSERT_FATAL(dpt_comm_threads_create(SIZE, 10.0, &g, &err) == 0);
  static float bufs[SIZE][N];
  rank_job jobs[SIZE];
  for (int r = 0; r < SIZE; r++) jobs[r] = (rank_job){.n = N, .buf = bufs[r]};
  run_ranks(g, SIZE, jobs, broadcast_from_2);
  for (int r = 0; r < SIZE; r++) {
    CU_ASSERT_EQUAL(jobs[r].rc, 0);
    CU_ASSERT_EQUAL(jobs[r].wrong, 0);
  }
  dpt_comm_threads_destroy(g);
}

static void test_broadcast_bad_root_fails(void)
{
  dpt_comm_threads *g;
  dpt_err err = {0};
  CU_ASSERT_FATAL(dpt_comm_threads_create(1, 1.0, &g, &err) == 0);
  dpt_comm c = dpt_comm_threads_rank(g, 0);
  float x = 1;
  CU_ASSERT_EQUAL(dpt_comm_broadcast(&c, &x, 1, 1, &err), DPT_EINTERNAL);
  CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "root 1"));
  dpt_comm_threads_destroy(g);
}

/* ---- abort and timeout ---- */

static void *allreduce_once(void *p)
{
  rank_job *j = p;
  j->rc = dpt_comm_allreduce_sum(&j->comm, j->buf, j->n, &j->err);
  return NULL;
}

/* Ranks 0 and 1 start an allreduce in threads t[0], t[1]; rank 2 never calls. */
static void start_two_of_three(dpt_comm_threads *g, rank_job *jobs, float (*bufs)[8], pthread_t *t)
{
  for (int r = 0; r < 2; r++) {
    jobs[r] = (rank_job){.comm = dpt_comm_threads_rank(g, r), .n = 8, .buf = bufs[r]};
    CU_ASSERT_FATAL(pthread_create(&t[r], NULL, allreduce_once, &jobs[r]) == 0);
  }
}

static void test_abort_wakes_every_rank(void)
{
  dpt_comm_threads *g;
  dpt_err err = {0};
  CU_ASSERT_FATAL(dpt_comm_threads_create(3, 0, &g, &err) == 0); /* no timeout: only abort */
  rank_job jobs[2];
  float bufs[2][8] = {{0}};
  pthread_t t[2];
  start_two_of_three(g, jobs, bufs, t);
  nanosleep(&(struct timespec){.tv_nsec = 50 * 1000 * 1000}, NULL);
  dpt_comm me = dpt_comm_threads_rank(g, 2);
  dpt_comm_abort(&me, DPT_EDEVICE, "worker 2: boom");
  for (int r = 0; r < 2; r++) {
    pthread_join(t[r], NULL);
    CU_ASSERT_EQUAL(jobs[r].rc, DPT_EDEVICE);
    CU_ASSERT_PTR_NOT_NULL(strstr(jobs[r].err.msg, "worker 2: boom"));
  }
  /* Later calls fail at once. */
  CU_ASSERT_EQUAL(dpt_comm_barrier(&me, &err), DPT_EDEVICE);
  dpt_comm_threads_destroy(g);
}

static void test_timeout_names_missing_rank(void)
{
  dpt_comm_threads *g;
  dpt_err err = {0};
  CU_ASSERT_FATAL(dpt_comm_threads_create(3, 0.2, &g, &err) == 0);
  rank_job jobs[2];
  float bufs[2][8] = {{0}};
  pthread_t t[2];
  start_two_of_three(g, jobs, bufs, t);
  for (int r = 0; r < 2; r++) {
    pthread_join(t[r], NULL);
    CU_ASSERT_EQUAL(jobs[r].rc, DPT_ETIMEOUT);
    CU_ASSERT_PTR_NOT_NULL(strstr(jobs[r].err.msg, "allreduce"));
    CU_ASSERT_PTR_NOT_NULL(strstr(jobs[r].err.msg, "worker(s) 2"));
    /* Both waited about the timeout, and the wait is reported as waiting. */
    CU_ASSERT(dpt_comm_threads_last_wait_s(g, r) > 0.1);
  }
  dpt_comm_threads_destroy(g);
}

/* Allreduces until the group fails, then frees its buffer at once, as a failing worker would. */
static void *allreduce_until_abort_then_free(void *p)
{
  rank_job *j = p;
  while (!j->rc) j->rc = dpt_comm_allreduce_sum(&j->comm, j->buf, j->n, &j->err);
  memset(j->buf, 0xff, j->n * sizeof *j->buf); /* a read still in flight would race with this */
  free(j->buf);
  return NULL;
}

/* An abort lands mid-collective: a rank may return only once nobody reads its buffer any more
 * (ThreadSanitizer and AddressSanitizer builds turn a violation into a report). */
static void test_abort_midway_leaves_buffers_unread(void)
{
  enum { SIZE = 3 };
  dpt_comm_threads *g;
  dpt_err err = {0};
  CU_ASSERT_FATAL(dpt_comm_threads_create(SIZE, 10.0, &g, &err) == 0);
  rank_job jobs[SIZE];
  pthread_t t[SIZE];
  for (int r = 0; r < SIZE; r++) {
    jobs[r] = (rank_job){.comm = dpt_comm_threads_rank(g, r), .n = 1 << 20};
    jobs[r].buf = calloc(jobs[r].n, sizeof(float));
    CU_ASSERT_FATAL(pthread_create(&t[r], NULL, allreduce_until_abort_then_free, &jobs[r]) == 0);
  }
  nanosleep(&(struct timespec){.tv_nsec = 30 * 1000 * 1000}, NULL);
  dpt_comm_abort(&jobs[0].comm, DPT_ECOMM, "stop");
  for (int r = 0; r < SIZE; r++) {
    pthread_join(t[r], NULL);
    CU_ASSERT_EQUAL(jobs[r].rc, DPT_ECOMM);
  }
  dpt_comm_threads_destroy(g);
}

static void *allreduce_own_length(void *p)
{
  rank_job *j = p;
  j->rc = dpt_comm_allreduce_sum(&j->comm, j->buf, j->n + (size_t)j->comm.rank, &j->err);
  return NULL;
}

static void test_mismatched_lengths_fail_everyone(void)
{
  dpt_comm_threads *g;
  dpt_err err = {0};
  CU_ASSERT_FATAL(dpt_comm_threads_create(2, 10.0, &g, &err) == 0);
  float bufs[2][8] = {{0}};
  rank_job jobs[2] = {{.n = 4, .buf = bufs[0]}, {.n = 4, .buf = bufs[1]}};
  run_ranks(g, 2, jobs, allreduce_own_length);
  for (int r = 0; r < 2; r++) {
    CU_ASSERT_EQUAL(jobs[r].rc, DPT_EINTERNAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(jobs[r].err.msg, "n 5"));
  }
  dpt_comm_threads_destroy(g);
}

static void test_create_rejects_no_ranks(void)
{
  dpt_comm_threads *g = NULL;
  dpt_err err = {0};
  CU_ASSERT_EQUAL(dpt_comm_threads_create(0, 1.0, &g, &err), DPT_EINPUT);
  CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "0 ranks"));
}

int dpt_test_register(void)
{
  static const dpt_test_case allreduce[] = {DPT_TEST(test_allreduce_exact_all_sizes),
                                            DPT_TEST(test_allreduce_reused_for_100_rounds),
                                            DPT_TEST(test_allreduce_bytes_like_busbw),
                                            DPT_TEST(test_allreduce_sums_in_rank_order),
                                            DPT_TEST_END};
  static const dpt_test_case others[] = {DPT_TEST(test_broadcast_copies_root),
                                         DPT_TEST(test_broadcast_bad_root_fails),
                                         DPT_TEST(test_abort_wakes_every_rank),
                                         DPT_TEST(test_timeout_names_missing_rank),
                                         DPT_TEST(test_abort_midway_leaves_buffers_unread),
                                         DPT_TEST(test_mismatched_lengths_fail_everyone),
                                         DPT_TEST(test_create_rejects_no_ranks),
                                         DPT_TEST_END};
  int rc = dpt_test_add_suite("comm_threads_allreduce", allreduce);
  return rc ? rc : dpt_test_add_suite("comm_threads_broadcast_abort", others);
}
