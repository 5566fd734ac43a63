/* ps/: the shard-by-shard copies behind a push and a pull (dpt_ps_pipe), on the synchronous and
 * the stale server. The pipe here stands in for a device: its gradient appears shard by shard,
 * only when ready asks for it (the rest is NaN until then), and what arrived copies out is
 * the replica's "upload". So a push that read a shard before asking, or a pull that announced a
 * shard before writing it, ends with NaN or stale values in the replica. Also checked: the calls
 * come a shard at a time, in order, cover every parameter once, and a failing call fails the push
 * or pull with its code and aborts the server. */
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "dpt/ps.h"
#include "tests/lib/test_util.h"

enum { N = 1000, ROUNDS = 6, MAX_WORKERS = 4, FAIL_NEVER = -1 };

typedef struct pipe_job {
  dpt_ps *ps;
  int worker;
  float grads[N];    /* NaN until ready() asks for a range */
  float pulled[N];   /* where the pull writes */
  float uploaded[N]; /* what arrived() saw: the replica */
  size_t ready_next, arrived_next; /* the calls' expected next offset */
  int calls, fail_at_call;         /* fail_at_call: that call returns DPT_EDEVICE */
  bool out_of_order;
  int round;
  int rc;
  dpt_err err;
} pipe_job;

static float grad_at(int worker, int round, size_t i)
{
  return 0.01f * (float)((int)(i % 7) - 3 + worker - round);
}

static int fail_now(pipe_job *j, dpt_err *err)
{
  if (j->calls++ != j->fail_at_call) return DPT_OK;
  return dpt_err_set(err, DPT_EDEVICE, "test pipe: copy failed");
}

static int pipe_ready(void *ctx, size_t off, size_t len, dpt_err *err)
{
  pipe_job *j = ctx;
  j->out_of_order |= off != j->ready_next || len == 0;
  j->ready_next = off + len;
  for (size_t i = off; i < off + len; i++) j->grads[i] = grad_at(j->worker, j->round, i);
  return fail_now(j, err);
}

static int pipe_arrived(void *ctx, size_t off, size_t len, dpt_err *err)
{
  pipe_job *j = ctx;
  j->out_of_order |= off != j->arrived_next || len == 0;
  j->arrived_next = off + len;
  memcpy(j->uploaded + off, j->pulled + off, len * sizeof(float));
  return fail_now(j, err);
}

static void *piped_rounds(void *p)
{
  pipe_job *j = p;
  dpt_ps_pipe pipe = {.ready = pipe_ready, .arrived = pipe_arrived, .ctx = j};
  for (j->round = 0; j->round < ROUNDS && !j->rc; j->round++) {
    for (size_t i = 0; i < N; i++) j->grads[i] = j->pulled[i] = NAN;
    j->ready_next = j->arrived_next = 0;
    j->rc = dpt_ps_push_piped(j->ps, j->worker, j->grads, 0.1f, NULL, &pipe, &j->err);
    if (j->rc) break;
    j->out_of_order |= j->ready_next != N;
    j->rc = dpt_ps_pull_piped(j->ps, j->worker, j->pulled, NULL, &pipe, &j->err);
    j->out_of_order |= !j->rc && j->arrived_next != N;
  }
  if (j->rc) dpt_ps_abort(j->ps, j->rc, j->err.msg);
  return NULL;
}

/* The same rounds without a pipe, the gradient whole from the start: the reference. */
static void *whole_rounds(void *p)
{
  pipe_job *j = p;
  for (j->round = 0; j->round < ROUNDS && !j->rc; j->round++) {
    for (size_t i = 0; i < N; i++) j->grads[i] = grad_at(j->worker, j->round, i);
    j->rc = dpt_ps_push(j->ps, j->worker, j->grads, 0.1f, NULL, &j->err);
    if (!j->rc) j->rc = dpt_ps_pull(j->ps, j->worker, j->uploaded, NULL, &j->err);
  }
  return NULL;
}

static dpt_ps *make_ps(int workers, int shards, int staleness, const float *init)
{
  dpt_ps_config cfg = {.n_params = N, .n_workers = workers, .n_shards = shards,
                       .server_threads = 2, .momentum = 0.9f, .weight_decay = 1e-4f,
                       .timeout_s = 30, .staleness = staleness};
  dpt_ps *ps = NULL;
  dpt_err err = {0};
  int rc = dpt_ps_create(&cfg, init, &ps, &err);
  if (rc) fprintf(stderr, "ps: %s\n", err.msg);
  CU_ASSERT_FATAL(rc == 0);
  return ps;
}

/* workers threads run body on a fresh ps; jobs[w] holds each one's outcome. */
static void run(int workers, int shards, int staleness, int fail_at_call, void *(*body)(void *),
                pipe_job *jobs)
{
  static float init[N];
  for (size_t i = 0; i < N; i++) init[i] = 0.001f * (float)(i % 31);
  dpt_ps *ps = make_ps(workers, shards, staleness, init);
  pthread_t t[MAX_WORKERS];
  for (int w = 0; w < workers; w++) {
    memset(&jobs[w], 0, sizeof jobs[w]);
    jobs[w].ps = ps;
    jobs[w].worker = w;
    jobs[w].fail_at_call = w == 0 ? fail_at_call : FAIL_NEVER;
    CU_ASSERT_FATAL(pthread_create(&t[w], NULL, body, &jobs[w]) == 0);
  }
  for (int w = 0; w < workers; w++) pthread_join(t[w], NULL);
  dpt_ps_destroy(ps);
}

static pipe_job piped[MAX_WORKERS], whole[MAX_WORKERS];

static void check_piped_equals_whole(int workers, int shards, int staleness)
{
  run(workers, shards, staleness, FAIL_NEVER, piped_rounds, piped);
  run(workers, shards, staleness, FAIL_NEVER, whole_rounds, whole);
  for (int w = 0; w < workers; w++) {
    if (piped[w].rc) fprintf(stderr, "worker %d: %s\n", w, piped[w].err.msg);
    CU_ASSERT_EQUAL(piped[w].rc, 0);
    CU_ASSERT_EQUAL(whole[w].rc, 0);
    CU_ASSERT_FALSE(piped[w].out_of_order);
    /* Each round: one ready and one arrived per shard. */
    CU_ASSERT_EQUAL(piped[w].calls, 2 * shards * ROUNDS);
    CU_ASSERT_EQUAL(memcmp(piped[w].uploaded, whole[w].uploaded, sizeof whole[w].uploaded), 0);
  }
}

static void test_synchronous_rounds_shard_by_shard(void)
{
  check_piped_equals_whole(3, 1, 0);
  check_piped_equals_whole(3, 7, 0);
}

/* One worker: the stale server's pushes are then exactly the synchronous steps, in one order. */
static void test_stale_pushes_shard_by_shard(void) { check_piped_equals_whole(1, 5, 1); }

static void check_failure_propagates(int staleness, int fail_at_call)
{
  int workers = staleness ? 1 : 2;
  run(workers, 4, staleness, fail_at_call, piped_rounds, piped);
  CU_ASSERT_EQUAL(piped[0].rc, DPT_EDEVICE);
  CU_ASSERT_PTR_NOT_NULL(strstr(piped[0].err.msg, "test pipe: copy failed"));
  /* The other worker is woken by the abort, not left to its timeout. */
  if (workers > 1) CU_ASSERT_NOT_EQUAL(piped[1].rc, 0);
}

/* Call 1 is the second shard's ready (a push half done), call 4 the first arrived of a pull. */
static void test_a_failing_copy_fails_the_call(void)
{
  check_failure_propagates(0, 1);
  check_failure_propagates(0, 4);
  check_failure_propagates(1, 1);
  check_failure_propagates(1, 4);
}

int dpt_test_register(void)
{
  static const dpt_test_case pipe[] = {DPT_TEST(test_synchronous_rounds_shard_by_shard),
                                       DPT_TEST(test_stale_pushes_shard_by_shard),
                                       DPT_TEST(test_a_failing_copy_fails_the_call),
                                       DPT_TEST_END};
  return dpt_test_add_suite("ps_pipe", pipe);
}
