/* host/sync*.c: both strategies on CPU devices, one thread per worker: replicas stay identical
 * step by step, allreduce and ps end bit-identical, the votes are counted and a skip vote skips
 * the step everywhere, and one failing worker stops the others. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "dpt/rng.h"
#include "dpt/sync.h"
#include "dpt/timer.h"
#include "kernels/kn_math.h"
#include "tests/lib/test_util.h"

enum { WORKERS = 3, N = 1003, STEPS = 30, NEVER = -1 };

typedef struct sync_job {
  dpt_sync *sync;
  int worker;
  int fail_at;            /* step at which this worker fails instead of exchanging, or NEVER */
  bool votes;             /* casts votes_of(worker, step) in every exchange */
  float (*trace)[N];      /* trace[step]: the replica after that step */
  dpt_votes counts[STEPS]; /* counts[step]: the votes counted in that step's exchange */
  int bad_timings;        /* exchanges whose timing had a negative part */
  int rc;
  dpt_err err;
} sync_job;

static float init_params[N];

static void random_grads(int worker, int step, float *g)
{
  dpt_rng rng;
  dpt_rng_seed(&rng, 1000 * (uint64_t)step + (uint64_t)worker);
  for (size_t i = 0; i < N; i++) g[i] = dpt_rng_normal(&rng) * 0.01f;
}

/* A decaying schedule: every worker passes the same lr in a step, as the trainer does. */
static float lr_at(int step) { return 0.1f / (1.f + 0.1f * (float)step); }

/* Steps 4 and 17: one worker, a different one each time, votes to skip. Step 9: workers 0 and 2
 * vote to stop, which is only counted. */
static bool step_skipped(int step) { return step == 4 || step == 17; }

static dpt_votes votes_of(int worker, int step)
{
  return (dpt_votes){.skip = step_skipped(step) && worker == step % WORKERS,
                     .stop = step == 9 && worker != 1};
}

static int train(sync_job *j, dpt_device *dev, float *params)
{
  float host[N], *grads = NULL;
  int rc = dpt_dev_copy_h2d(dev, params, init_params, sizeof host, &j->err);
  if (!rc) rc = dpt_sync_attach(j->sync, j->worker, dev, init_params, &grads, &j->err);
  for (int step = 0; step < STEPS && !rc; step++) {
    if (step == j->fail_at) {
      dpt_sync_abort(j->sync, DPT_EDEVICE, "worker 1: injected failure");
      rc = dpt_err_set(&j->err, DPT_EDEVICE, "worker 1: injected failure");
      break;
    }
    random_grads(j->worker, step, host);
    rc = dpt_dev_copy_h2d(dev, grads, host, sizeof host, &j->err);
    dpt_sync_timing t = {.comm_s = -1, .wait_s = -1};
    dpt_votes mine = votes_of(j->worker, step);
    if (!rc)
      rc = dpt_sync_exchange(j->sync, j->worker, params, lr_at(step), j->votes ? &mine : NULL,
                             &j->counts[step], NULL, false, &t, &j->err);
    j->bad_timings += !rc && (t.comm_s < 0 || t.wait_s < 0);
    if (!rc) rc = dpt_dev_copy_d2h(dev, j->trace[step], params, sizeof host, &j->err);
  }
  dpt_sync_detach(j->sync, j->worker);
  return rc;
}

static void *worker_main(void *p)
{
  sync_job *j = p;
  dpt_device dev;
  void *params = NULL;
  j->rc = dpt_device_open(DPT_DEVICE_CPU, j->worker, 1, &dev, &j->err);
  if (j->rc) {
    dpt_sync_abort(j->sync, j->rc, j->err.msg);
    return NULL;
  }
  j->rc = dpt_dev_alloc(&dev, N * sizeof(float), &params, &j->err);
  if (!j->rc) j->rc = train(j, &dev, params);
  if (j->rc) dpt_sync_abort(j->sync, j->rc, j->err.msg);
  dpt_dev_free(&dev, params);
  dpt_device_close(&dev);
  return NULL;
}

static dpt_sync_config config(dpt_strategy strategy)
{
  dpt_rng rng;
  dpt_rng_seed(&rng, 11);
  for (size_t i = 0; i < N; i++) init_params[i] = dpt_rng_normal(&rng);
  return (dpt_sync_config){.strategy = strategy, .n_workers = WORKERS, .n_params = N,
                           .ps_shards = 4, .ps_threads = 3, .momentum = 0.9f,
                           .weight_decay = 5e-4f,
                           .timeout_s = 30.0, .init_params = init_params};
}

/* Runs WORKERS threads over one strategy, voting when `votes`; returns the seconds it took. */
static double run(dpt_strategy strategy, float (*traces)[STEPS][N], int failing_worker,
                  bool votes, sync_job *jobs)
{
  dpt_sync_config cfg = config(strategy);
  dpt_sync s;
  dpt_err err = {0};
  CU_ASSERT_FATAL(dpt_sync_create(&cfg, &s, &err) == 0);
  double t0 = dpt_now();
  pthread_t t[WORKERS];
  for (int w = 0; w < WORKERS; w++) {
    jobs[w] = (sync_job){.sync = &s, .worker = w, .trace = traces[w], .votes = votes,
                         .fail_at = w == failing_worker ? 5 : NEVER};
    CU_ASSERT_FATAL(pthread_create(&t[w], NULL, worker_main, &jobs[w]) == 0);
  }
  for (int w = 0; w < WORKERS; w++) pthread_join(t[w], NULL);
  double took = dpt_now() - t0;
  dpt_sync_destroy(&s);
  return took;
}

static float by_allreduce[WORKERS][STEPS][N], by_ps[WORKERS][STEPS][N];

static void check_replicas_identical(float (*traces)[STEPS][N], const sync_job *jobs)
{
  size_t differing_steps = 0;
  for (int w = 0; w < WORKERS; w++) {
    CU_ASSERT_EQUAL(jobs[w].rc, 0);
    CU_ASSERT_EQUAL(jobs[w].bad_timings, 0);
    if (jobs[w].rc) fprintf(stderr, "worker %d: %s\n", w, jobs[w].err.msg);
    for (int step = 0; step < STEPS; step++)
      differing_steps += memcmp(traces[w][step], traces[0][step], sizeof traces[0][0]) != 0;
  }
  CU_ASSERT_EQUAL(differing_steps, 0);
  /* Every step moved the parameters, so "identical" is not "untouched". */
  CU_ASSERT(memcmp(traces[0][0], init_params, sizeof init_params) != 0);
  for (int step = 1; step < STEPS; step++)
    CU_ASSERT(memcmp(traces[0][step], traces[0][step - 1], sizeof traces[0][0]) != 0);
}

static void test_strategies_agree_bit_for_bit(void)
{
  sync_job jobs[WORKERS];
  run(DPT_STRATEGY_ALLREDUCE, by_allreduce, NEVER, false, jobs);
  check_replicas_identical(by_allreduce, jobs);
  run(DPT_STRATEGY_PS, by_ps, NEVER, false, jobs);
  check_replicas_identical(by_ps, jobs);
  size_t differing_steps = 0;
  for (int step = 0; step < STEPS; step++)
    differing_steps += memcmp(by_ps[0][step], by_allreduce[0][step], sizeof by_ps[0][0]) != 0;
  CU_ASSERT_EQUAL(differing_steps, 0);
  CU_ASSERT_EQUAL(memcmp(by_ps[0][STEPS - 1], by_allreduce[0][STEPS - 1], sizeof by_ps[0][0]), 0);
}

static void check_failure_stops_everyone(dpt_strategy strategy, float (*traces)[STEPS][N])
{
  sync_job jobs[WORKERS];
  double took = run(strategy, traces, 1, false, jobs);
  CU_ASSERT(took < 5.0); /* promptly: far below the 30 s timeout */
  for (int w = 0; w < WORKERS; w++) {
    CU_ASSERT(jobs[w].rc == DPT_EDEVICE || jobs[w].rc == DPT_EABORTED);
    CU_ASSERT_PTR_NOT_NULL(strstr(jobs[w].err.msg, "injected failure"));
  }
}

static void test_failing_worker_stops_allreduce(void)
{
  check_failure_stops_everyone(DPT_STRATEGY_ALLREDUCE, by_allreduce);
}

static void test_failing_worker_stops_ps(void)
{
  check_failure_stops_everyone(DPT_STRATEGY_PS, by_ps);
}

/* The replica after every step, computed here: the gradients summed in worker order, then
 * kn_sgd_step_at; a skipped step changes neither the parameters nor the velocity. */
static void reference_trace(float (*want)[N])
{
  static float p[N], v[N], sum[N], g[N];
  memcpy(p, init_params, sizeof p);
  memset(v, 0, sizeof v);
  dpt_sync_config cfg = config(DPT_STRATEGY_ALLREDUCE);
  for (int step = 0; step < STEPS; step++) {
    for (int w = 0; w < WORKERS; w++) {
      random_grads(w, step, g);
      for (size_t i = 0; i < N; i++) sum[i] = w ? sum[i] + g[i] : g[i];
    }
    for (size_t i = 0; i < N && !step_skipped(step); i++)
      kn_sgd_step_at(i, p, sum, v, lr_at(step), cfg.momentum, cfg.weight_decay);
    memcpy(want[step], p, sizeof p);
  }
}

/* Each strategy carries the votes its own way; on every worker the counts are the same, and the
 * replicas follow the reference that leaves the skipped steps out. */
static void check_votes(dpt_strategy strategy, float (*traces)[STEPS][N])
{
  static float want[STEPS][N];
  reference_trace(want);
  sync_job jobs[WORKERS];
  run(strategy, traces, NEVER, true, jobs);
  size_t wrong_counts = 0, wrong_steps = 0;
  for (int w = 0; w < WORKERS; w++) {
    CU_ASSERT_EQUAL(jobs[w].rc, 0);
    if (jobs[w].rc) fprintf(stderr, "worker %d: %s\n", w, jobs[w].err.msg);
    for (int step = 0; step < STEPS; step++) {
      dpt_votes c = jobs[w].counts[step];
      wrong_counts += c.skip != (step_skipped(step) ? 1 : 0) || c.stop != (step == 9 ? 2 : 0);
      wrong_steps += memcmp(traces[w][step], want[step], sizeof want[step]) != 0;
    }
  }
  CU_ASSERT_EQUAL(wrong_counts, 0);
  CU_ASSERT_EQUAL(wrong_steps, 0);
  CU_ASSERT_EQUAL(memcmp(traces[0][4], traces[0][3], sizeof traces[0][3]), 0); /* skipped */
}

static void test_votes_allreduce(void) { check_votes(DPT_STRATEGY_ALLREDUCE, by_allreduce); }

static void test_votes_ps(void) { check_votes(DPT_STRATEGY_PS, by_ps); }

static void test_bytes_names_and_bad_configs(void)
{
  dpt_sync s;
  dpt_err err = {0};
  dpt_sync_config cfg = config(DPT_STRATEGY_ALLREDUCE);
  CU_ASSERT_FATAL(dpt_sync_create(&cfg, &s, &err) == 0);
  CU_ASSERT_EQUAL(dpt_sync_bytes_per_step(&s), 2 * (WORKERS - 1) * N * sizeof(float) / WORKERS);
  CU_ASSERT_STRING_EQUAL(s.vt->name, "allreduce");
  dpt_sync_destroy(&s);
  cfg = config(DPT_STRATEGY_PS);
  CU_ASSERT_FATAL(dpt_sync_create(&cfg, &s, &err) == 0);
  CU_ASSERT_EQUAL(dpt_sync_bytes_per_step(&s), 2 * N * sizeof(float));
  CU_ASSERT_STRING_EQUAL(s.vt->name, "ps");
  dpt_sync_destroy(&s);
  CU_ASSERT_STRING_EQUAL(dpt_strategy_name(DPT_STRATEGY_ALLREDUCE), "allreduce");
  CU_ASSERT_STRING_EQUAL(dpt_strategy_name(DPT_STRATEGY_PS), "ps");

  cfg.ps_shards = 0;
  CU_ASSERT_EQUAL(dpt_sync_create(&cfg, &s, &err), DPT_EINPUT);
  CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "0 shards"));
  cfg = config((dpt_strategy)7);
  dpt_err_clear(&err);
  CU_ASSERT_EQUAL(dpt_sync_create(&cfg, &s, &err), DPT_EINPUT);
  cfg = config(DPT_STRATEGY_ALLREDUCE);
  cfg.n_workers = 0;
  dpt_err_clear(&err);
  CU_ASSERT_EQUAL(dpt_sync_create(&cfg, &s, &err), DPT_EINPUT);
}

static void test_exchange_before_attach_fails(void)
{
  dpt_sync s;
  dpt_err err = {0};
  dpt_sync_config cfg = config(DPT_STRATEGY_PS);
  CU_ASSERT_FATAL(dpt_sync_create(&cfg, &s, &err) == 0);
  float p[N];
  CU_ASSERT_EQUAL(dpt_sync_exchange(&s, 0, p, 0.1f, NULL, NULL, NULL, false, NULL, &err), DPT_EINTERNAL);
  CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "not attached"));
  dpt_sync_destroy(&s);
}

int dpt_test_register(void)
{
  static const dpt_test_case tests[] = {DPT_TEST(test_strategies_agree_bit_for_bit),
                                        DPT_TEST(test_failing_worker_stops_allreduce),
                                        DPT_TEST(test_failing_worker_stops_ps),
                                        DPT_TEST(test_votes_allreduce),
                                        DPT_TEST(test_votes_ps),
                                        DPT_TEST(test_bytes_names_and_bad_configs),
                                        DPT_TEST(test_exchange_before_attach_fails),
                                        DPT_TEST_END};
  return dpt_test_add_suite("sync_cpu", tests);
}
