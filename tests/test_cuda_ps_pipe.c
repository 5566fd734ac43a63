/* ps on CUDA copies shard by shard (host/sync/sync_ps.c, dpt_ps_pipe), on the emulated device
 * (emulated build only: it turns the emulator's delays and reads its counters). With every
 * stream item delayed by up to 300 us, a push that read a chunk of the gradient before its copy
 * was done, or a staging buffer overwritten before its upload ran, would show as parameters
 * different from the same exchanges on CPU devices; they must match bit for bit, for shards that
 * fit the device's marks, shards grouped into chunks (more shards than marks) and the stale
 * server. The counters show the copies are per shard: each exchange uploads every shard on its
 * own and copies the gradient down in one piece per chunk. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "dpt/rng.h"
#include "dpt/sync.h"
#include "emu/cuda_emu.h"
#include "tests/lib/test_util.h"

enum { N = 5003, STEPS = 8, MAX_WORKERS = 4, DELAY_US = 300 };

static float init[N];

typedef struct pipe_worker {
  dpt_sync *sync;
  dpt_device_kind kind;
  int worker;
  float final[N];
  dpt_dev_counts before, after; /* around the exchanges, on CUDA */
  int rc;
  dpt_err err;
} pipe_worker;

static void grads_of(int worker, int step, float *g)
{
  dpt_rng rng;
  dpt_rng_seed(&rng, 104729 * (uint64_t)step + (uint64_t)worker + 11);
  for (size_t i = 0; i < N; i++) g[i] = 0.03f * dpt_rng_normal(&rng);
}

static int exchange_steps(pipe_worker *j, dpt_device *dev, float *params)
{
  static _Thread_local float g[N];
  float *grads = NULL;
  int rc = dpt_dev_copy_h2d(dev, params, init, sizeof init, &j->err);
  if (!rc) rc = dpt_sync_attach(j->sync, j->worker, dev, init, &grads, &j->err);
  if (!rc) rc = dpt_dev_sync(dev, &j->err);
  dpt_dev_counts_read(dev, &j->before);
  for (int s = 0; s < STEPS && !rc; s++) {
    grads_of(j->worker, s, g);
    rc = dpt_dev_copy_h2d(dev, grads, g, sizeof g, &j->err);
    if (!rc) rc = dpt_dev_sync(dev, &j->err); /* g is refilled next step */
    if (!rc)
      rc = dpt_sync_exchange(j->sync, j->worker, params, 0.05f, NULL, NULL, NULL, false, NULL,
                             &j->err);
  }
  dpt_dev_counts_read(dev, &j->after);
  if (!rc) rc = dpt_dev_copy_d2h(dev, j->final, params, sizeof j->final, &j->err);
  dpt_sync_detach(j->sync, j->worker);
  return rc;
}

static void *worker_main(void *p)
{
  pipe_worker *j = p;
  dpt_device dev;
  void *params = NULL;
  j->rc = dpt_device_open(j->kind, j->worker, 1, &dev, &j->err);
  if (j->rc) return NULL;
  j->rc = dpt_dev_alloc(&dev, sizeof init, &params, &j->err);
  if (!j->rc) j->rc = exchange_steps(j, &dev, params);
  if (j->rc) dpt_sync_abort(j->sync, j->rc, j->err.msg);
  dpt_dev_free(&dev, params);
  dpt_device_close(&dev);
  return NULL;
}

static void run_ps(dpt_device_kind kind, int workers, int shards, int staleness,
                   pipe_worker *jobs)
{
  dpt_sync_config cfg = {.strategy = DPT_STRATEGY_PS, .device = kind, .n_workers = workers,
                         .n_params = N, .ps_shards = shards, .momentum = 0.9f,
                         .weight_decay = 1e-4f, .timeout_s = 60.0, .init_params = init,
                         .staleness = staleness};
  dpt_sync s;
  dpt_err err = {0};
  int rc = dpt_sync_create(&cfg, &s, &err);
  if (rc) fprintf(stderr, "sync: %s\n", err.msg);
  CU_ASSERT_FATAL(rc == 0);
  pthread_t t[MAX_WORKERS];
  for (int w = 0; w < workers; w++) {
    jobs[w] = (pipe_worker){.sync = &s, .kind = kind, .worker = w};
    CU_ASSERT_FATAL(pthread_create(&t[w], NULL, worker_main, &jobs[w]) == 0);
  }
  for (int w = 0; w < workers; w++) pthread_join(t[w], NULL);
  dpt_sync_destroy(&s);
  for (int w = 0; w < workers; w++) {
    if (jobs[w].rc) fprintf(stderr, "worker %d: %s\n", w, jobs[w].err.msg);
    CU_ASSERT_EQUAL(jobs[w].rc, 0);
  }
}

static pipe_worker on_gpu[MAX_WORKERS], on_cpu[MAX_WORKERS];

static void check_against_cpu(int workers, int shards, int staleness)
{
  for (size_t i = 0; i < N; i++) init[i] = 0.2f * (float)((int)(i % 17) - 8) / 8.f;
  dpt_emu_set_delay_us(DELAY_US);
  run_ps(DPT_DEVICE_CUDA, workers, shards, staleness, on_gpu);
  dpt_emu_set_delay_us(0);
  run_ps(DPT_DEVICE_CPU, workers, shards, staleness, on_cpu);
  int chunks = shards < DPT_DEV_MARKS ? shards : DPT_DEV_MARKS;
  for (int w = 0; w < workers; w++) {
    CU_ASSERT_EQUAL(memcmp(on_gpu[w].final, on_cpu[w].final, sizeof init), 0);
    /* Per exchange: the tally and each chunk down; each shard and the counts up. */
    CU_ASSERT_EQUAL(on_gpu[w].after.d2h - on_gpu[w].before.d2h, (uint64_t)STEPS * (chunks + 1));
    CU_ASSERT_EQUAL(on_gpu[w].after.h2d - on_gpu[w].before.h2d,
                    (uint64_t)STEPS * (shards + 1) + STEPS); /* + the test's gradient uploads */
  }
}

static void test_shards_within_the_marks(void) { check_against_cpu(2, 5, 0); }

static void test_more_shards_than_marks(void) { check_against_cpu(2, 3 * DPT_DEV_MARKS + 1, 0); }

/* One worker: its stale pushes are then the synchronous steps, in one order on either device. */
static void test_stale_server(void) { check_against_cpu(1, 6, 1); }

int dpt_test_register(void)
{
  static const dpt_test_case pipe[] = {DPT_TEST(test_shards_within_the_marks),
                                       DPT_TEST(test_more_shards_than_marks),
                                       DPT_TEST(test_stale_server), DPT_TEST_END};
  return dpt_test_add_suite("cuda_ps_pipe", pipe);
}
