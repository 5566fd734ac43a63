/* ps/ps_stale.c: the parameter server with staleness (docs/ps.md "Consistency models"). One
 * worker gives the synchronous result bit for bit at any staleness; with random per-worker delays
 * no pull ever sees a worker more than S pushes behind, every pull holds every push the bound
 * promises, and every push is applied exactly once; timeouts name the slow worker; a stop vote is
 * sticky and releases waits; an abort wakes waiters; a checkpoint's cut waits for the push in
 * flight. */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dpt/ps.h"
#include "dpt/rng.h"
#include "tests/lib/test_util.h"

enum { MAX_WORKERS = 8 };

static dpt_ps *make_stale(int workers, size_t n, int shards, int staleness, float momentum,
                          float wd, double timeout_s, const float *init)
{
  dpt_ps_config cfg = {.n_params = n, .n_workers = workers, .n_shards = shards,
                       .momentum = momentum, .weight_decay = wd, .timeout_s = timeout_s,
                       .staleness = staleness};
  dpt_ps *ps = NULL;
  dpt_err err = {0};
  int rc = dpt_ps_create(&cfg, init, &ps, &err);
  CU_ASSERT_EQUAL_FATAL(rc, 0);
  return ps;
}

/* ---- one worker: every staleness is the synchronous server ---- */

enum { ONE_N = 517, ONE_ROUNDS = 30 };

static void one_worker_run(int staleness, float *out)
{
  float init[ONE_N], grads[ONE_N];
  for (int i = 0; i < ONE_N; i++) init[i] = (float)(i % 17) * 0.1f;
  dpt_ps *ps = make_stale(1, ONE_N, 3, staleness, 0.9f, 5e-4f, 10, init);
  dpt_err err = {0};
  for (int r = 0; r < ONE_ROUNDS; r++) {
    dpt_rng rng;
    dpt_rng_seed(&rng, (uint64_t)r + 7);
    for (int i = 0; i < ONE_N; i++) grads[i] = dpt_rng_normal(&rng);
    CU_ASSERT_EQUAL(dpt_ps_push(ps, 0, grads, 0.01f * (float)(r + 1), NULL, &err), 0);
    CU_ASSERT_EQUAL(dpt_ps_pull(ps, 0, out, NULL, &err), 0);
  }
  dpt_ps_destroy(ps);
}

static void test_one_worker_equals_synchronous(void)
{
  static float sync[ONE_N], stale[ONE_N];
  one_worker_run(0, sync);
  const int stalenesses[] = {1, 4, DPT_PS_STALENESS_INF};
  for (int k = 0; k < 3; k++) {
    one_worker_run(stalenesses[k], stale);
    CU_ASSERT_EQUAL(memcmp(sync, stale, sizeof sync), 0);
  }
}

/* ---- the bound and exactly-once, under random delays ---- */

/* Parameter w counts worker w's pushes: its gradient is -1 there and 0 elsewhere, with lr 1,
 * momentum 0 and no weight decay, so every push adds exactly 1 to its worker's parameter. */
typedef struct clock_job {
  dpt_ps *ps;
  int worker, workers, pushes, staleness;
  long broken_bound;   /* pulls missing a push the bound promises */
  long over_staleness; /* pulls reporting a staleness above S */
  long torn;           /* pulls whose own count is not its own pushes */
  int rc;
  dpt_err err;
} clock_job;

static void *count_pushes(void *p)
{
  clock_job *j = p;
  float grads[MAX_WORKERS] = {0}, params[MAX_WORKERS];
  grads[j->worker] = -1.f;
  dpt_rng rng;
  dpt_rng_seed(&rng, 99 + (uint64_t)j->worker);
  for (int c = 0; c < j->pushes && !j->rc; c++) {
    /* Up to 2 ms, and now and then 10 ms: workers drift apart and back. */
    long us = (long)dpt_rng_below(&rng, 2000) + (dpt_rng_below(&rng, 50) == 0 ? 10000 : 0);
    nanosleep(&(struct timespec){.tv_nsec = us * 1000}, NULL);
    j->rc = dpt_ps_push(j->ps, j->worker, grads, 1.f, NULL, &j->err);
    dpt_ps_round round = {0};
    if (!j->rc) j->rc = dpt_ps_pull(j->ps, j->worker, params, &round, &j->err);
    if (j->rc) break;
    long clock = c + 1; /* this worker's pushes applied, its own last one included */
    j->torn += params[j->worker] != (float)clock;
    for (int w = 0; w < j->workers && j->staleness != DPT_PS_STALENESS_INF; w++)
      j->broken_bound += params[w] < (float)(clock - j->staleness);
    j->over_staleness += j->staleness != DPT_PS_STALENESS_INF && round.staleness >
                                                                       (uint64_t)j->staleness;
  }
  return NULL;
}

static void bound_and_exactly_once(int workers, int shards, int staleness)
{
  enum { PUSHES = 150 };
  float init[MAX_WORKERS] = {0};
  dpt_ps *ps = make_stale(workers, (size_t)workers, shards, staleness, 0, 0, 60, init);
  clock_job jobs[MAX_WORKERS];
  pthread_t t[MAX_WORKERS];
  for (int w = 0; w < workers; w++) {
    jobs[w] = (clock_job){.ps = ps, .worker = w, .workers = workers, .pushes = PUSHES,
                          .staleness = staleness};
    CU_ASSERT_FATAL(pthread_create(&t[w], NULL, count_pushes, &jobs[w]) == 0);
  }
  for (int w = 0; w < workers; w++) pthread_join(t[w], NULL);
  for (int w = 0; w < workers; w++) {
    CU_ASSERT_EQUAL(jobs[w].rc, 0);
    CU_ASSERT_EQUAL(jobs[w].broken_bound, 0);
    CU_ASSERT_EQUAL(jobs[w].over_staleness, 0);
    CU_ASSERT_EQUAL(jobs[w].torn, 0);
    if (jobs[w].rc || jobs[w].broken_bound || jobs[w].over_staleness || jobs[w].torn)
      fprintf(stderr, "S=%d worker %d: rc %d (%s), %ld broken bounds, %ld over S, %ld torn\n",
              staleness, w, jobs[w].rc, jobs[w].err.msg, jobs[w].broken_bound,
              jobs[w].over_staleness, jobs[w].torn);
  }
  float final[MAX_WORKERS];
  dpt_err err = {0};
  CU_ASSERT_EQUAL(dpt_ps_read_params(ps, 0, final, &err), 0);
  for (int w = 0; w < workers; w++) CU_ASSERT_EQUAL(final[w], (float)PUSHES); /* no lost, none twice */
  dpt_ps_stats st;
  dpt_ps_get_stats(ps, &st);
  CU_ASSERT_EQUAL(st.pushes_applied, (uint64_t)workers * PUSHES);
  CU_ASSERT_EQUAL(st.pushes_dropped, 0);
  CU_ASSERT_EQUAL(st.rounds, (uint64_t)PUSHES);
  if (staleness != DPT_PS_STALENESS_INF) CU_ASSERT(st.max_staleness <= (uint64_t)staleness);
  dpt_ps_destroy(ps);
}

static void test_staleness_1_bound_holds(void) { bound_and_exactly_once(4, 1, 1); }
static void test_staleness_3_bound_holds_over_shards(void) { bound_and_exactly_once(5, 3, 3); }
static void test_asynchronous_applies_every_push_once(void)
{
  bound_and_exactly_once(4, 2, DPT_PS_STALENESS_INF);
}

/* ---- waits: timeout, stop vote, abort ---- */

typedef struct pusher {
  dpt_ps *ps;
  int worker, pushes;
  dpt_votes last_votes; /* carried by the last push */
  dpt_ps_round round;   /* the last pull's */
  int rc;
  dpt_err err;
} pusher;

static void *push_and_pull(void *p)
{
  pusher *j = p;
  float g[2] = {0}, params[2];
  for (int c = 0; c < j->pushes && !j->rc; c++) {
    dpt_votes v = c + 1 == j->pushes ? j->last_votes : (dpt_votes){0};
    j->rc = dpt_ps_push(j->ps, j->worker, g, 0.1f, &v, &j->err);
    if (!j->rc) j->rc = dpt_ps_pull(j->ps, j->worker, params, &j->round, &j->err);
  }
  return NULL;
}

static void test_timeout_names_the_slow_worker(void)
{
  float init[2] = {0};
  dpt_ps *ps = make_stale(2, 2, 1, 1, 0, 0, 0.2, init);
  pusher j = {.ps = ps, .worker = 0, .pushes = 3}; /* clock 2 needs worker 1 at clock 1 */
  push_and_pull(&j);
  CU_ASSERT_EQUAL(j.rc, DPT_ETIMEOUT);
  CU_ASSERT_PTR_NOT_NULL(strstr(j.err.msg, "timed out after 0.2 s waiting for worker(s) 1 "
                                           "(clock 0) to reach clock 1 (--staleness 1)"));
  dpt_ps_destroy(ps);
}

static void test_stop_vote_is_sticky_and_releases_waits(void)
{
  float init[2] = {0};
  dpt_ps *ps = make_stale(2, 2, 1, 1, 0, 0, 0, init); /* no timeout: only the vote can release */
  pusher ahead = {.ps = ps, .worker = 0, .pushes = 3}; /* its pulls wait for worker 1... */
  pthread_t t;
  CU_ASSERT_FATAL(pthread_create(&t, NULL, push_and_pull, &ahead) == 0);
  nanosleep(&(struct timespec){.tv_nsec = 50 * 1000 * 1000}, NULL);
  pusher voter = {.ps = ps, .worker = 1, .pushes = 1, .last_votes = {.stop = 1}};
  push_and_pull(&voter); /* ...until this push's stop vote; worker 1 stays at clock 1 */
  pthread_join(t, NULL);
  CU_ASSERT_EQUAL(ahead.rc, 0);
  CU_ASSERT_EQUAL(ahead.round.votes.stop, 1);
  CU_ASSERT_EQUAL(voter.round.votes.stop, 1);
  dpt_ps_stats st;
  dpt_ps_get_stats(ps, &st);
  CU_ASSERT(st.max_staleness <= 1); /* the released pull is not counted */
  dpt_ps_destroy(ps);
}

static void test_skip_vote_drops_its_push_alone(void)
{
  float init[2] = {0}, params[2];
  float g[2] = {-1.f, -1.f};
  dpt_ps *ps = make_stale(1, 2, 1, 2, 0, 0, 10, init);
  dpt_err err = {0};
  CU_ASSERT_EQUAL(dpt_ps_push(ps, 0, g, 1.f, &(dpt_votes){.skip = 1}, &err), 0);
  CU_ASSERT_EQUAL(dpt_ps_pull(ps, 0, params, NULL, &err), 0);
  CU_ASSERT_EQUAL(params[0], 0.f);
  CU_ASSERT_EQUAL(dpt_ps_push(ps, 0, g, 1.f, NULL, &err), 0);
  CU_ASSERT_EQUAL(dpt_ps_pull(ps, 0, params, NULL, &err), 0);
  CU_ASSERT_EQUAL(params[0], 1.f);
  dpt_ps_stats st;
  dpt_ps_get_stats(ps, &st);
  CU_ASSERT_EQUAL(st.pushes_applied, 1);
  CU_ASSERT_EQUAL(st.pushes_dropped, 1);
  dpt_ps_destroy(ps);
}

/* A worker whose pushes are dropped stop_after_dropped times in a row stops every worker. */
static void test_dropped_in_a_row_votes_stop(void)
{
  float init[2] = {0}, params[2], g[2] = {0};
  dpt_ps_config cfg = {.n_params = 2, .n_workers = 2, .n_shards = 1, .timeout_s = 10,
                       .staleness = 3, .stop_after_dropped = 2};
  dpt_ps *ps;
  dpt_err err = {0};
  CU_ASSERT_FATAL(dpt_ps_create(&cfg, init, &ps, &err) == 0);
  const int skips[] = {1, 0, 1, 1}; /* in a row: 1, 0, 1, 2 */
  const int stop_after[] = {0, 0, 0, 1};
  for (int i = 0; i < 4; i++) {
    dpt_ps_round round;
    CU_ASSERT_EQUAL(dpt_ps_push(ps, 1, g, 1.f, &(dpt_votes){.skip = skips[i]}, &err), 0);
    CU_ASSERT_EQUAL(dpt_ps_pull(ps, 1, params, &round, &err), 0);
    CU_ASSERT_EQUAL(round.votes.stop, stop_after[i]);
    CU_ASSERT_EQUAL(round.votes.skip, skips[i]);
  }
  dpt_ps_round other;
  CU_ASSERT_EQUAL(dpt_ps_push(ps, 0, g, 1.f, NULL, &err), 0);
  CU_ASSERT_EQUAL(dpt_ps_pull(ps, 0, params, &other, &err), 0);
  CU_ASSERT_EQUAL(other.votes.stop, 1); /* the other worker hears it at its next pull */
  dpt_ps_destroy(ps);
}

static void test_abort_wakes_a_waiting_pull(void)
{
  float init[2] = {0};
  dpt_ps *ps = make_stale(2, 2, 1, 1, 0, 0, 0, init);
  pusher ahead = {.ps = ps, .worker = 0, .pushes = 3};
  pthread_t t;
  CU_ASSERT_FATAL(pthread_create(&t, NULL, push_and_pull, &ahead) == 0);
  nanosleep(&(struct timespec){.tv_nsec = 50 * 1000 * 1000}, NULL);
  dpt_ps_abort(ps, DPT_EDEVICE, "worker 1: boom");
  pthread_join(t, NULL);
  CU_ASSERT_EQUAL(ahead.rc, DPT_EDEVICE);
  CU_ASSERT_STRING_EQUAL(ahead.err.msg, "worker 1: boom");
  dpt_ps_destroy(ps);
}

/* The on_late hook of test_late_worker_is_dropped: drops who it is handed. */
typedef struct late_log {
  dpt_ps *ps;
  int late[4], n;
  char why[DPT_ERR_MSG_MAX];
} late_log;

static void drop_late(void *ctx, int worker, const char *why)
{
  late_log *log = ctx;
  log->late[log->n++] = worker;
  snprintf(log->why, sizeof log->why, "%s", why);
  uint64_t pushes = 99;
  dpt_err err = {0};
  CU_ASSERT_EQUAL(dpt_ps_drop(log->ps, worker, &pushes, &err), 0);
  CU_ASSERT_EQUAL(pushes, 0);
}

static void test_late_worker_is_dropped(void)
{
  float init[2] = {0}, g[2] = {-1.f, -1.f}, params[2];
  late_log log = {0};
  dpt_ps_config cfg = {.n_params = 2, .n_workers = 2, .n_shards = 1, .timeout_s = 0.2,
                       .staleness = 1, .on_late = drop_late, .on_late_ctx = &log};
  dpt_err err = {0};
  CU_ASSERT_FATAL(dpt_ps_create(&cfg, init, &log.ps, &err) == 0);
  for (int c = 0; c < 5; c++) { /* worker 1 never pushes: worker 0's second pull waits for it */
    CU_ASSERT_EQUAL(dpt_ps_push(log.ps, 0, g, 1.f, NULL, &err), 0);
    CU_ASSERT_EQUAL(dpt_ps_pull(log.ps, 0, params, NULL, &err), 0);
  }
  CU_ASSERT_EQUAL(params[0], 5.f);
  CU_ASSERT_EQUAL(log.n, 1);
  CU_ASSERT_EQUAL(log.late[0], 1);
  CU_ASSERT_PTR_NOT_NULL(strstr(log.why, "waiting for worker(s) 1 (clock 0) to reach clock 1"));
  CU_ASSERT_EQUAL(dpt_ps_push(log.ps, 1, g, 1.f, NULL, &err), DPT_EABORTED);
  CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "worker 1: push after it was dropped from the run"));
  dpt_ps_stats st;
  dpt_ps_get_stats(log.ps, &st);
  CU_ASSERT_EQUAL(st.workers_dropped, 1);
  CU_ASSERT_EQUAL(st.pushes_applied, 5);
  dpt_ps_destroy(log.ps);
}

static void test_synchronous_rounds_cannot_drop(void)
{
  float init[2] = {0};
  dpt_ps_config cfg = {.n_params = 2, .n_workers = 2, .n_shards = 1};
  dpt_ps *ps;
  dpt_err err = {0};
  CU_ASSERT_FATAL(dpt_ps_create(&cfg, init, &ps, &err) == 0);
  uint64_t pushes;
  CU_ASSERT_EQUAL(dpt_ps_drop(ps, 1, &pushes, &err), DPT_EINTERNAL);
  dpt_ps_destroy(ps);
}

/* ---- a checkpoint's cut: the pushes in flight are applied whole first ---- */

/* The push's on_apply hook, after its first shard, lets the cutter in and waits (300 ms at most)
 * for its cut to return: a cut that did not wait for the push would copy the second shard before
 * the push reached it. */
typedef struct cut_race {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  bool mid_push, cut_done;
  dpt_ps *ps;
  float params[2], velocity[2];
  uint64_t clocks[1];
  int rc;
} cut_race;

static void hold_mid_push(void *ctx, int shard, uint64_t round, int worker, double t0,
                          double t1)
{
  cut_race *c = ctx;
  if (shard != 0 || round != 0) return;
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_nsec += 300 * 1000 * 1000;
  until.tv_sec += until.tv_nsec / 1000000000L;
  until.tv_nsec %= 1000000000L;
  pthread_mutex_lock(&c->mu);
  c->mid_push = true;
  pthread_cond_broadcast(&c->cv);
  while (!c->cut_done && pthread_cond_timedwait(&c->cv, &c->mu, &until) == 0) {}
  pthread_mutex_unlock(&c->mu);
}

static void *cut_mid_push(void *p)
{
  cut_race *c = p;
  pthread_mutex_lock(&c->mu);
  while (!c->mid_push) pthread_cond_wait(&c->cv, &c->mu);
  pthread_mutex_unlock(&c->mu);
  dpt_err err = {0};
  c->rc = dpt_ps_read_cut(c->ps, c->params, c->velocity, c->clocks, &err);
  pthread_mutex_lock(&c->mu);
  c->cut_done = true;
  pthread_cond_broadcast(&c->cv);
  pthread_mutex_unlock(&c->mu);
  return NULL;
}

static void test_cut_waits_for_the_push_in_flight(void)
{
  float init[2] = {0}, g[2] = {-1.f, -1.f};
  cut_race c = {.rc = -1};
  pthread_mutex_init(&c.mu, NULL);
  pthread_cond_init(&c.cv, NULL);
  dpt_ps_config cfg = {.n_params = 2, .n_workers = 1, .n_shards = 2, .timeout_s = 10,
                       .staleness = 1, .on_apply = hold_mid_push, .on_apply_ctx = &c};
  dpt_err err = {0};
  CU_ASSERT_FATAL(dpt_ps_create(&cfg, init, &c.ps, &err) == 0);
  pthread_t t;
  CU_ASSERT_FATAL(pthread_create(&t, NULL, cut_mid_push, &c) == 0);
  CU_ASSERT_EQUAL(dpt_ps_push(c.ps, 0, g, 1.f, NULL, &err), 0);
  pthread_join(t, NULL);
  CU_ASSERT_EQUAL(c.rc, 0);
  CU_ASSERT_EQUAL(c.params[0], 1.f); /* the whole push, on both shards */
  CU_ASSERT_EQUAL(c.params[1], 1.f);
  CU_ASSERT_EQUAL(c.velocity[1], -1.f);
  CU_ASSERT_EQUAL(c.clocks[0], 1);
  dpt_ps_destroy(c.ps);
  pthread_cond_destroy(&c.cv);
  pthread_mutex_destroy(&c.mu);
}

static void test_synchronous_rounds_have_no_cut(void)
{
  float init[2] = {0}, out[4];
  uint64_t clocks[2];
  dpt_ps_config cfg = {.n_params = 2, .n_workers = 2, .n_shards = 1};
  dpt_ps *ps;
  dpt_err err = {0};
  CU_ASSERT_FATAL(dpt_ps_create(&cfg, init, &ps, &err) == 0);
  CU_ASSERT_EQUAL(dpt_ps_read_cut(ps, out, out + 2, clocks, &err), DPT_EINTERNAL);
  dpt_ps_destroy(ps);
}

static void test_negative_staleness_refused(void)
{
  float init[2] = {0};
  dpt_ps *ps = NULL;
  dpt_err err = {0};
  dpt_ps_config cfg = {.n_params = 2, .n_workers = 1, .n_shards = 1, .staleness = -1};
  CU_ASSERT_EQUAL(dpt_ps_create(&cfg, init, &ps, &err), DPT_EINPUT);
  CU_ASSERT_PTR_NULL(ps);
}

int dpt_test_register(void)
{
  static const dpt_test_case consistency[] = {
      DPT_TEST(test_one_worker_equals_synchronous), DPT_TEST(test_staleness_1_bound_holds),
      DPT_TEST(test_staleness_3_bound_holds_over_shards),
      DPT_TEST(test_asynchronous_applies_every_push_once), DPT_TEST_END};
  static const dpt_test_case waits[] = {DPT_TEST(test_timeout_names_the_slow_worker),
                                        DPT_TEST(test_stop_vote_is_sticky_and_releases_waits),
                                        DPT_TEST(test_skip_vote_drops_its_push_alone),
                                        DPT_TEST(test_dropped_in_a_row_votes_stop),
                                        DPT_TEST(test_abort_wakes_a_waiting_pull),
                                        DPT_TEST(test_negative_staleness_refused),
                                        DPT_TEST(test_late_worker_is_dropped),
                                        DPT_TEST(test_synchronous_rounds_cannot_drop),
                                        DPT_TEST(test_cut_waits_for_the_push_in_flight),
                                        DPT_TEST(test_synchronous_rounds_have_no_cut),
                                        DPT_TEST_END};
  int rc = dpt_test_add_suite("ps_stale_consistency", consistency);
  return rc ? rc : dpt_test_add_suite("ps_stale_waits", waits);
}
