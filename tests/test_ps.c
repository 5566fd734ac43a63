/* ps/: the parameter server under many workers, rounds and shard counts (no lost or doubled
 * update, skip and stop votes counted), bit-identity with the in-process allreduce, optimizer state in and
 * out, config checks, abort and timeouts. With DPT_TEST_SOAK=1 in the environment (ctest -L soak)
 * it runs only the soak instead: 16 worker threads, thousands of rounds. */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dpt/comm.h"
#include "dpt/ps.h"
#include "dpt/rng.h"
#include "kernels/kn_math.h"
#include "tests/lib/test_util.h"

enum { MAX_WORKERS = 16 };

typedef struct worker_job {
  dpt_ps *ps;
  dpt_comm comm; /* the allreduce runs only */
  int worker, rounds, n_workers;
  size_t n;
  float lr;
  float *params; /* this worker's replica */
  size_t wrong;
  int rc;
  dpt_err err;
} worker_job;

static void run_workers(int n, worker_job *jobs, void *(*body)(void *))
{
  pthread_t t[MAX_WORKERS];
  for (int w = 0; w < n; w++) CU_ASSERT_FATAL(pthread_create(&t[w], NULL, body, &jobs[w]) == 0);
  for (int w = 0; w < n; w++) pthread_join(t[w], NULL);
}

/* ---- stress: exact integer arithmetic, so any lost or doubled update shows ---- */

static float init_value(size_t i) { return (float)(i % 13); }

static int int_grad(int worker, int round, size_t i)
{
  return (int)(((size_t)(worker + 1) * (size_t)(round + 3) + i) % 11) - 5;
}

/* Every 7th round one worker, a different one each time, votes to skip it. */
static bool round_skipped(int round) { return round % 7 == 3; }

/* Every 5th round one worker votes to stop: counted only, the round is applied as usual. */
static bool round_stop_voted(int round) { return round % 5 == 1; }

static dpt_votes votes_of(int worker, int round, int n_workers)
{
  return (dpt_votes){.skip = round_skipped(round) && worker == (round / 7) % n_workers,
                        .stop = round_stop_voted(round) && worker == (round / 5) % n_workers};
}

/* With lr 1, momentum 0, wd 0 the parameters after `round` are init - every gradient so far,
 * except those of skipped rounds. */
static float expected_after(int n_workers, int round, size_t i)
{
  long p = (long)init_value(i);
  for (int r = 0; r <= round; r++)
    for (int w = 0; w < n_workers && !round_skipped(r); w++) p -= int_grad(w, r, i);
  return (float)p;
}

static void *push_pull_int_rounds(void *p)
{
  worker_job *j = p;
  float *grads = malloc(j->n * sizeof *grads);
  long *want = malloc(j->n * sizeof *want);
  for (size_t i = 0; i < j->n; i++) want[i] = (long)init_value(i);
  for (int r = 0; r < j->rounds && !j->rc; r++) {
    for (size_t i = 0; i < j->n; i++) grads[i] = (float)int_grad(j->worker, r, i);
    dpt_votes mine = votes_of(j->worker, r, j->n_workers);
    j->rc = dpt_ps_push(j->ps, j->worker, grads, 1.f, &mine, &j->err);
    dpt_ps_round round = {0};
    if (!j->rc) j->rc = dpt_ps_pull(j->ps, j->worker, j->params, &round, &j->err);
    dpt_votes seen = round.votes;
    if (!j->rc) j->wrong += seen.skip != round_skipped(r) || seen.stop != round_stop_voted(r);
    for (size_t i = 0; i < j->n && !j->rc; i++) {
      for (int w = 0; w < j->n_workers && !round_skipped(r); w++) want[i] -= int_grad(w, r, i);
      j->wrong += j->params[i] != (float)want[i];
    }
  }
  free(grads);
  free(want);
  return NULL;
}

/* n_threads server threads, each applying a slice of every shard: 203 parameters give slices of
 * 64 or more, and with 3 shards of 67 or 68 some slices are empty. */
static void stress(int n_workers, int n_shards, int n_threads, int rounds)
{
  enum { N = 203 };
  float init[N];
  for (size_t i = 0; i < N; i++) init[i] = init_value(i);
  dpt_ps_config cfg = {.n_params = N, .n_workers = n_workers, .n_shards = n_shards,
                       .server_threads = n_threads, .timeout_s = 60.0};
  dpt_ps *ps;
  dpt_err err = {0};
  CU_ASSERT_FATAL(dpt_ps_create(&cfg, init, &ps, &err) == 0);
  static float params[MAX_WORKERS][N];
  worker_job jobs[MAX_WORKERS];
  for (int w = 0; w < n_workers; w++)
    jobs[w] = (worker_job){.ps = ps, .worker = w, .rounds = rounds, .n_workers = n_workers,
                           .n = N, .params = params[w]};
  run_workers(n_workers, jobs, push_pull_int_rounds);
  for (int w = 0; w < n_workers; w++) {
    CU_ASSERT_EQUAL(jobs[w].rc, 0);
    CU_ASSERT_EQUAL(jobs[w].wrong, 0);
    if (jobs[w].rc || jobs[w].wrong)
      fprintf(stderr, "%d shards, %d server threads, worker %d: rc %d (%s), %zu wrong\n",
              n_shards, n_threads, w, jobs[w].rc, jobs[w].err.msg, jobs[w].wrong);
  }
  size_t final_wrong = 0;
  for (size_t i = 0; i < N; i++)
    final_wrong += params[0][i] != expected_after(n_workers, rounds - 1, i);
  CU_ASSERT_EQUAL(final_wrong, 0);
  dpt_ps_stats st;
  dpt_ps_get_stats(ps, &st);
  CU_ASSERT_EQUAL(st.rounds, (uint64_t)rounds);
  uint64_t skipped = 0;
  for (int r = 0; r < rounds; r++) skipped += round_skipped(r);
  CU_ASSERT_EQUAL(st.pushes_applied, (uint64_t)(rounds - (int)skipped) * (uint64_t)n_workers);
  CU_ASSERT_EQUAL(st.pushes_dropped, skipped * (uint64_t)n_workers);
  CU_ASSERT(st.server_busy_s > 0);
  dpt_ps_destroy(ps);
}

static void test_stress_1_shard(void) { stress(8, 1, 1, 500); }
static void test_stress_3_shards(void) { stress(8, 3, 1, 500); }
static void test_stress_8_shards(void) { stress(8, 8, 1, 500); }
static void test_stress_server_threads(void)
{
  stress(8, 1, 3, 500);
  stress(8, 3, 4, 500);
  stress(2, 8, 2, 500);
}

/* 16 worker threads on however few cores: thousands of rounds, exact sums throughout. */
static void test_soak_16_workers(void)
{
  const int shards[] = {1, 5, 16}, threads[] = {1, 4, 2};
  for (int i = 0; i < 3; i++) stress(16, shards[i], threads[i], 10000);
}

/* The optimizer state goes in (a checkpoint's) and comes out (for the next checkpoint) exactly:
 * with lr 1, momentum 0.5: v = 0.5 v0 + sum of grads, p = p0 - v, all in exact halves. */
static void test_velocity_in_and_out(void)
{
  enum { N = 10 };
  float init[N], v0[N], v[N], grads[N], p[N];
  for (int i = 0; i < N; i++) {
    init[i] = (float)i;
    v0[i] = (float)(i - 5);
    grads[i] = (float)(i % 3);
  }
  dpt_ps_config cfg = {.n_params = N, .n_workers = 1, .n_shards = 3, .momentum = 0.5f,
                       .timeout_s = 10.0, .init_velocity = v0};
  dpt_ps *ps;
  dpt_err err = {0};
  CU_ASSERT_FATAL(dpt_ps_create(&cfg, init, &ps, &err) == 0);
  CU_ASSERT_EQUAL(dpt_ps_read_velocity(ps, v, &err), 0);
  CU_ASSERT_EQUAL(memcmp(v, v0, sizeof v), 0);
  CU_ASSERT_EQUAL(dpt_ps_push(ps, 0, grads, 1.f, NULL, &err), 0);
  CU_ASSERT_EQUAL(dpt_ps_pull(ps, 0, p, NULL, &err), 0);
  CU_ASSERT_EQUAL(dpt_ps_read_velocity(ps, v, &err), 0);
  size_t wrong = 0;
  for (int i = 0; i < N; i++) {
    float want_v = 0.5f * v0[i] + grads[i];
    wrong += v[i] != want_v || p[i] != init[i] - want_v;
  }
  CU_ASSERT_EQUAL(wrong, 0);
  dpt_ps_destroy(ps);
}

/* ---- bit-identity with the allreduce path ---- */

enum { BIT_WORKERS = 4, BIT_N = 1003, BIT_ROUNDS = 20 };
static const float BIT_LR = 0.05f, BIT_MOMENTUM = 0.9f, BIT_WD = 5e-4f;

static void random_grads(int worker, int round, float *g, size_t n)
{
  dpt_rng rng;
  dpt_rng_seed(&rng, 1000 * (uint64_t)round + (uint64_t)worker);
  for (size_t i = 0; i < n; i++) g[i] = dpt_rng_normal(&rng) * 0.1f;
}

static void *ps_random_rounds(void *p)
{
  worker_job *j = p;
  float grads[BIT_N];
  for (int r = 0; r < j->rounds && !j->rc; r++) {
    random_grads(j->worker, r, grads, j->n);
    j->rc = dpt_ps_push(j->ps, j->worker, grads, j->lr, NULL, &j->err);
    if (!j->rc) j->rc = dpt_ps_pull(j->ps, j->worker, j->params, NULL, &j->err);
  }
  return NULL;
}

/* What the allreduce strategy does: sum over ranks, then every replica takes the same step. */
static void *allreduce_random_rounds(void *p)
{
  worker_job *j = p;
  float grads[BIT_N], velocity[BIT_N] = {0};
  for (int r = 0; r < j->rounds && !j->rc; r++) {
    random_grads(j->worker, r, grads, j->n);
    j->rc = dpt_comm_allreduce_sum(&j->comm, grads, j->n, &j->err);
    for (size_t i = 0; i < j->n; i++)
      kn_sgd_step_at(i, j->params, grads, velocity, j->lr, BIT_MOMENTUM, BIT_WD);
  }
  return NULL;
}

static void test_bit_identical_to_allreduce(void)
{
  static float init[BIT_N], by_ps[BIT_WORKERS][BIT_N], by_ar[BIT_WORKERS][BIT_N];
  dpt_rng rng;
  dpt_rng_seed(&rng, 7);
  for (size_t i = 0; i < BIT_N; i++) init[i] = dpt_rng_normal(&rng);
  dpt_err err = {0};

  dpt_ps_config cfg = {.n_params = BIT_N, .n_workers = BIT_WORKERS, .n_shards = 3,
                       .momentum = BIT_MOMENTUM, .weight_decay = BIT_WD, .timeout_s = 10.0};
  dpt_ps *ps;
  CU_ASSERT_FATAL(dpt_ps_create(&cfg, init, &ps, &err) == 0);
  worker_job jobs[BIT_WORKERS];
  for (int w = 0; w < BIT_WORKERS; w++)
    jobs[w] = (worker_job){.ps = ps, .worker = w, .rounds = BIT_ROUNDS, .n = BIT_N,
                           .lr = BIT_LR, .params = by_ps[w]};
  run_workers(BIT_WORKERS, jobs, ps_random_rounds);
  for (int w = 0; w < BIT_WORKERS; w++) CU_ASSERT_EQUAL(jobs[w].rc, 0);
  dpt_ps_destroy(ps);

  dpt_comm_threads *g;
  CU_ASSERT_FATAL(dpt_comm_threads_create(BIT_WORKERS, 10.0, &g, &err) == 0);
  for (int w = 0; w < BIT_WORKERS; w++) {
    memcpy(by_ar[w], init, sizeof init);
    jobs[w] = (worker_job){.comm = dpt_comm_threads_rank(g, w), .worker = w, .rounds = BIT_ROUNDS,
                           .n = BIT_N, .lr = BIT_LR, .params = by_ar[w]};
  }
  run_workers(BIT_WORKERS, jobs, allreduce_random_rounds);
  for (int w = 0; w < BIT_WORKERS; w++) CU_ASSERT_EQUAL(jobs[w].rc, 0);
  dpt_comm_threads_destroy(g);

  CU_ASSERT(memcmp(by_ps[0], init, sizeof init) != 0); /* the rounds did move the parameters */
  for (int w = 0; w < BIT_WORKERS; w++) {
    CU_ASSERT_EQUAL(memcmp(by_ps[w], by_ar[0], sizeof init), 0);
    CU_ASSERT_EQUAL(memcmp(by_ar[w], by_ar[0], sizeof init), 0);
  }
}

/* ---- config, contract violations, abort, timeout ---- */

static void test_config_is_checked(void)
{
  float init[4] = {0};
  dpt_ps *ps = NULL;
  dpt_err err = {0};
  dpt_ps_config cfg = {.n_params = 4, .n_workers = 2, .n_shards = 5};
  CU_ASSERT_EQUAL(dpt_ps_create(&cfg, init, &ps, &err), DPT_EINPUT);
  CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "5 shards: must be between 1 and 4"));
  cfg.n_shards = 0;
  dpt_err_clear(&err);
  CU_ASSERT_EQUAL(dpt_ps_create(&cfg, init, &ps, &err), DPT_EINPUT);
  CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "0 shards"));
  cfg = (dpt_ps_config){.n_params = 4, .n_workers = 0, .n_shards = 1};
  dpt_err_clear(&err);
  CU_ASSERT_EQUAL(dpt_ps_create(&cfg, init, &ps, &err), DPT_EINPUT);
  CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "0 workers"));
  cfg = (dpt_ps_config){.n_params = 4, .n_workers = 1, .n_shards = 1, .server_threads = 65};
  dpt_err_clear(&err);
  CU_ASSERT_EQUAL(dpt_ps_create(&cfg, init, &ps, &err), DPT_EINPUT);
  CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "65 server threads: must be between 1 and 64"));
  CU_ASSERT_PTR_NULL(ps);
}

static dpt_ps *make_ps(int n_workers, int n_shards, double timeout_s)
{
  float init[16] = {0};
  dpt_ps_config cfg = {.n_params = 16, .n_workers = n_workers, .n_shards = n_shards,
                       .timeout_s = timeout_s};
  dpt_ps *ps = NULL;
  dpt_err err = {0};
  CU_ASSERT_FATAL(dpt_ps_create(&cfg, init, &ps, &err) == 0);
  return ps;
}

static void test_different_lr_in_a_round_fails(void)
{
  dpt_ps *ps = make_ps(2, 2, 1.0);
  float g[16] = {0}, p[16];
  dpt_err err = {0};
  CU_ASSERT_EQUAL(dpt_ps_push(ps, 0, g, 0.1f, NULL, &err), 0);
  CU_ASSERT_EQUAL(dpt_ps_push(ps, 1, g, 0.2f, NULL, &err), DPT_EINTERNAL);
  CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "lr"));
  dpt_err_clear(&err);
  CU_ASSERT_EQUAL(dpt_ps_pull(ps, 0, p, NULL, &err), DPT_EINTERNAL); /* the server was stopped */
  dpt_ps_destroy(ps);
}

static void test_push_twice_without_pull_fails(void)
{
  dpt_ps *ps = make_ps(2, 1, 1.0);
  float g[16] = {0};
  dpt_err err = {0};
  CU_ASSERT_EQUAL(dpt_ps_push(ps, 0, g, 0.1f, NULL, &err), 0);
  CU_ASSERT_EQUAL(dpt_ps_push(ps, 0, g, 0.1f, NULL, &err), DPT_EINTERNAL);
  CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "before pulling"));
  dpt_err_clear(&err);
  CU_ASSERT_EQUAL(dpt_ps_push(ps, 2, g, 0.1f, NULL, &err), DPT_EINTERNAL); /* no worker 2 */
  dpt_ps_destroy(ps);
}

static void *push_then_pull_once(void *p)
{
  worker_job *j = p;
  float g[16] = {0};
  j->rc = dpt_ps_push(j->ps, j->worker, g, 0.1f, NULL, &j->err);
  if (!j->rc) j->rc = dpt_ps_pull(j->ps, j->worker, j->params, NULL, &j->err);
  return NULL;
}

/* Workers 0 and 1 push and pull in threads t[0], t[1]; worker 2 never pushes. */
static void start_two_of_three(dpt_ps *ps, worker_job *jobs, float (*params)[16], pthread_t *t)
{
  for (int w = 0; w < 2; w++) {
    jobs[w] = (worker_job){.ps = ps, .worker = w, .n = 16, .params = params[w]};
    CU_ASSERT_FATAL(pthread_create(&t[w], NULL, push_then_pull_once, &jobs[w]) == 0);
  }
}

static void test_abort_wakes_pullers(void)
{
  dpt_ps *ps = make_ps(3, 4, 0); /* no timeout: only the abort can wake them */
  worker_job jobs[2];
  float params[2][16];
  pthread_t t[2];
  start_two_of_three(ps, jobs, params, t);
  nanosleep(&(struct timespec){.tv_nsec = 50 * 1000 * 1000}, NULL);
  dpt_ps_abort(ps, DPT_EDEVICE, "worker 2: boom");
  for (int w = 0; w < 2; w++) {
    pthread_join(t[w], NULL);
    CU_ASSERT_EQUAL(jobs[w].rc, DPT_EDEVICE);
    CU_ASSERT_STRING_EQUAL(jobs[w].err.msg, "worker 2: boom");
  }
  float g[16] = {0};
  dpt_err err = {0};
  CU_ASSERT_EQUAL(dpt_ps_push(ps, 2, g, 0.1f, NULL, &err), DPT_EDEVICE); /* later calls fail at once */
  dpt_ps_abort(ps, DPT_ETIMEOUT, "too late"); /* the first abort wins */
  dpt_err_clear(&err);
  CU_ASSERT_EQUAL(dpt_ps_pull(ps, 2, params[0], NULL, &err), DPT_EDEVICE);
  dpt_ps_destroy(ps);
}

static void test_timeout_names_missing_worker(void)
{
  dpt_ps *ps = make_ps(3, 2, 0.2);
  worker_job jobs[2];
  float params[2][16];
  pthread_t t[2];
  start_two_of_three(ps, jobs, params, t);
  for (int w = 0; w < 2; w++) {
    pthread_join(t[w], NULL);
    CU_ASSERT_EQUAL(jobs[w].rc, DPT_ETIMEOUT);
    CU_ASSERT_PTR_NOT_NULL(strstr(jobs[w].err.msg, "ps: round 0, shard 0: timed out after 0.2 s"));
    CU_ASSERT_PTR_NOT_NULL(strstr(jobs[w].err.msg, "worker(s) 2"));
  }
  dpt_ps_destroy(ps);
}

static void test_destroy_unused_and_after_abort(void)
{
  dpt_ps_destroy(make_ps(2, 3, 1.0));
  dpt_ps *ps = make_ps(2, 3, 1.0);
  dpt_ps_abort(ps, DPT_EABORTED, NULL);
  dpt_ps_destroy(ps);
  dpt_ps_destroy(NULL);
}

int dpt_test_register(void)
{
  const char *soak_env = getenv("DPT_TEST_SOAK");
  if (soak_env && strcmp(soak_env, "1") == 0) {
    static const dpt_test_case soak[] = {DPT_TEST(test_soak_16_workers), DPT_TEST_END};
    return dpt_test_add_suite("ps_soak", soak);
  }
  static const dpt_test_case rounds[] = {DPT_TEST(test_stress_1_shard),
                                         DPT_TEST(test_stress_3_shards),
                                         DPT_TEST(test_stress_8_shards),
                                         DPT_TEST(test_stress_server_threads),
                                         DPT_TEST(test_bit_identical_to_allreduce),
                                         DPT_TEST(test_velocity_in_and_out), DPT_TEST_END};
  static const dpt_test_case failures[] = {DPT_TEST(test_config_is_checked),
                                           DPT_TEST(test_different_lr_in_a_round_fails),
                                           DPT_TEST(test_push_twice_without_pull_fails),
                                           DPT_TEST(test_abort_wakes_pullers),
                                           DPT_TEST(test_timeout_names_missing_worker),
                                           DPT_TEST(test_destroy_unused_and_after_abort),
                                           DPT_TEST_END};
  int rc = dpt_test_add_suite("ps_rounds", rounds);
  return rc ? rc : dpt_test_add_suite("ps_failures", failures);
}
