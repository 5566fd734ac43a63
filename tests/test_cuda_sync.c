/* GPU gradient exchange: the NCCL communicator on exactly checkable data for every GPU count,
 * abort and timeout with NCCL, ps over pinned memory against allreduce, and training on CUDA
 * against the CPU path's loss curve. Where dpt_cuda_device_count finds no device (or the build
 * has no CUDA) the suites are inactive, so the program reports them as not run and exits 77:
 * skipped, never passed. Suites needing two GPUs are inactive on one. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dpt/rng.h"
#include "dpt/sync.h"
#include "dpt/timer.h"
#include "dpt/trainer.h"
#include "host/comm/comm_nccl.h"
#include "tests/lib/cuda_present.h"
#include "tests/lib/train_fixture.h"
#include "tests/lib/synth_data.h"
#include "tests/lib/test_util.h"

enum { MAX_GPUS = 16 };

static int gpus; /* usable CUDA devices, counted once at registration */

/* ------------------------------------------------------------------------------------------ */
/* The NCCL communicator                                                                      */

/* Exactly checkable: small integers, so any summation order gives the exact sum. */
static float int_at(int rank, size_t i, int round)
{
  return (float)((int)(i % 11) * (rank + 1) + 3 * round);
}

static float int_total(int size, size_t i, int round)
{
  return (float)((int)(i % 11) * size * (size + 1) / 2 + 3 * round * size);
}

/* One rank's thread. Every rank runs `rounds` allreduces, then a broadcast from the last rank
 * and a barrier, unless `abort_at` (a round) or `skip_at` says otherwise. */
typedef struct nccl_job {
  dpt_comm_nccl *group;
  int local;        /* the rank in its group (its process's share): attach and detach take it */
  dpt_comm comm;
  size_t n;
  int rounds;
  int abort_at;     /* this rank aborts the group instead of this round's allreduce (-1: never) */
  int skip_at;      /* this rank leaves before this round (-1: never) */
  double attach_late_s; /* this rank sleeps so long before it attaches */
  size_t wrong;     /* elements that differed from the expected value */
  int rc;           /* the first failing call's code */
  double failed_after_s; /* seconds from the failing call's start to its return */
  dpt_err err;
} nccl_job;

/* The device buffer against host values: wrong elements. */
static size_t count_wrong(dpt_device *dev, const float *dbuf, float *host, size_t n,
                          float (*want)(int, size_t, int), int a, int round, dpt_err *err)
{
  if (dpt_dev_copy_d2h(dev, host, dbuf, n * sizeof(float), err)) return n;
  size_t wrong = 0;
  for (size_t i = 0; i < n; i++) wrong += host[i] != want(a, i, round);
  return wrong;
}

static int upload_ints(dpt_device *dev, float *dbuf, float *host, size_t n, int rank, int round,
                       dpt_err *err)
{
  for (size_t i = 0; i < n; i++) host[i] = int_at(rank, i, round);
  int rc = dpt_dev_copy_h2d(dev, dbuf, host, n * sizeof(float), err);
  /* The communicator runs on its own stream: the buffer must be written before the call. */
  return rc ? rc : dpt_dev_sync(dev, err);
}

static void run_collectives(nccl_job *j, dpt_device *dev, float *dbuf, float *host)
{
  int size = j->comm.size, rank = j->comm.rank;
  for (int round = 0; round < j->rounds && !j->rc; round++) {
    if (round == j->skip_at) return;
    if (round == j->abort_at) {
      dpt_comm_abort(&j->comm, DPT_EDEVICE, "rank 0: injected failure");
      j->rc = DPT_EDEVICE;
      return;
    }
    j->rc = upload_ints(dev, dbuf, host, j->n, rank, round, &j->err);
    double t0 = dpt_now();
    if (!j->rc) j->rc = dpt_comm_allreduce_sum(&j->comm, dbuf, j->n, &j->err);
    j->failed_after_s = dpt_now() - t0;
    if (!j->rc) j->wrong += count_wrong(dev, dbuf, host, j->n, int_total, size, round, &j->err);
  }
  if (!j->rc) j->rc = upload_ints(dev, dbuf, host, j->n, rank, 7, &j->err);
  if (!j->rc) j->rc = dpt_comm_broadcast(&j->comm, dbuf, j->n, size - 1, &j->err);
  if (!j->rc) j->wrong += count_wrong(dev, dbuf, host, j->n, int_at, size - 1, 7, &j->err);
  if (!j->rc) j->rc = dpt_comm_barrier(&j->comm, &j->err);
}

static void *nccl_rank_main(void *p)
{
  nccl_job *j = p;
  dpt_device dev;
  void *dbuf = NULL;
  float *host = malloc(j->n * sizeof *host);
  j->rc = host ? dpt_device_open(DPT_DEVICE_CUDA, j->comm.rank, 0, &dev, &j->err) : DPT_ENOMEM;
  if (j->rc) {
    dpt_comm_abort(&j->comm, j->rc, j->err.msg);
    free(host);
    return NULL;
  }
  j->rc = dpt_dev_alloc(&dev, j->n * sizeof(float), &dbuf, &j->err);
  if (j->attach_late_s > 0) dpt_sleep(j->attach_late_s);
  if (!j->rc) j->rc = dpt_comm_nccl_attach(j->group, j->local, dev.index, &j->err);
  if (!j->rc) run_collectives(j, &dev, dbuf, host);
  /* As the trainer does: a failed rank stops the others before it leaves (a repeat is a no-op). */
  if (j->rc) dpt_comm_abort(&j->comm, j->rc, j->err.msg);
  dpt_comm_nccl_detach(j->group, j->local);
  dpt_dev_free(&dev, dbuf);
  dpt_device_close(&dev);
  free(host);
  return NULL;
}

/* Runs the `size` ranks of jobs[], one per GPU and thread, each as it describes and in the group
 * it names; returns the seconds it took. */
static double run_jobs(int size, nccl_job *jobs)
{
  double t0 = dpt_now();
  pthread_t t[MAX_GPUS];
  for (int r = 0; r < size; r++)
    CU_ASSERT_FATAL(pthread_create(&t[r], NULL, nccl_rank_main, &jobs[r]) == 0);
  for (int r = 0; r < size; r++) pthread_join(t[r], NULL);
  return dpt_now() - t0;
}

/* One group of `size` ranks: collectives bounded by timeout_s, NCCL's initialisation by
 * init_timeout_s. */
static double run_nccl_deadlines(int size, double init_timeout_s, double timeout_s,
                                 nccl_job *jobs)
{
  dpt_comm_nccl *g = NULL;
  dpt_err err = {0};
  int rc = dpt_comm_nccl_create(size, timeout_s, &g, &err);
  if (rc) fprintf(stderr, "nccl group: %s\n", err.msg);
  CU_ASSERT_FATAL(rc == 0);
  dpt_comm_nccl_set_init_timeout(g, init_timeout_s);
  for (int r = 0; r < size; r++) {
    jobs[r].group = g;
    jobs[r].local = r;
    jobs[r].comm = dpt_comm_nccl_rank(g, r);
  }
  double took = run_jobs(size, jobs);
  dpt_comm_nccl_destroy(g);
  return took;
}

static double run_nccl(int size, double timeout_s, nccl_job *jobs)
{
  return run_nccl_deadlines(size, timeout_s, timeout_s, jobs);
}

/* Two ranks of one NCCL communicator in two groups of one rank each, as two processes hold them
 * (dpt_comm_nccl_create_span): each call's host barrier then meets one rank, and only NCCL meets
 * both. */
static void run_nccl_apart(double timeout_s, nccl_job jobs[2])
{
  unsigned char id[DPT_COMM_NCCL_ID_BYTES];
  dpt_err err = {0};
  dpt_comm_nccl *g[2] = {NULL, NULL};
  int rc = dpt_comm_nccl_make_id(id, &err);
  for (int r = 0; r < 2 && !rc; r++)
    rc = dpt_comm_nccl_create_span(1, r, 2, id, timeout_s, &g[r], &err);
  if (rc) fprintf(stderr, "nccl groups: %s\n", err.msg);
  CU_ASSERT_FATAL(rc == 0);
  for (int r = 0; r < 2; r++) {
    dpt_comm_nccl_set_init_timeout(g[r], 60.0);
    jobs[r].group = g[r];
    jobs[r].local = 0;
    jobs[r].comm = dpt_comm_nccl_rank(g[r], 0);
  }
  run_jobs(2, jobs);
  for (int r = 0; r < 2; r++) dpt_comm_nccl_destroy(g[r]);
}

static nccl_job plain_job(size_t n, int rounds)
{
  return (nccl_job){.n = n, .rounds = rounds, .abort_at = -1, .skip_at = -1};
}

/* nccl-tests style: every GPU count, an odd size, several rounds; prints the #wrong column. */
static void test_nccl_collectives_exact_every_gpu_count(void)
{
  const size_t n = (1u << 20) + 5;
  printf("\n  %5s %10s %7s %6s\n", "ranks", "floats", "#wrong", "rc");
  for (int size = 1; size <= gpus; size++) {
    nccl_job jobs[MAX_GPUS];
    for (int r = 0; r < size; r++) jobs[r] = plain_job(n, 3);
    run_nccl(size, 60.0, jobs);
    for (int r = 0; r < size; r++) {
      printf("  %5d %10zu %7zu %6d%s%s\n", size, n, jobs[r].wrong, jobs[r].rc,
             jobs[r].rc ? " " : "", jobs[r].rc ? jobs[r].err.msg : "");
      CU_ASSERT_EQUAL(jobs[r].rc, 0);
      CU_ASSERT_EQUAL(jobs[r].wrong, 0);
    }
  }
}

/* One rank aborts before round 1: every other rank's allreduce returns the abort's code instead
 * of waiting in NCCL, long before the timeout. */
static void test_nccl_abort_wakes_every_rank(void)
{
  nccl_job jobs[MAX_GPUS];
  for (int r = 0; r < gpus; r++) jobs[r] = plain_job(4099, 3);
  jobs[0].abort_at = 1;
  double took = run_nccl(gpus, 60.0, jobs);
  for (int r = 0; r < gpus; r++) {
    CU_ASSERT_EQUAL(jobs[r].rc, DPT_EDEVICE);
    CU_ASSERT_EQUAL(jobs[r].wrong, 0);
    if (r > 0) CU_ASSERT_PTR_NOT_NULL(strstr(jobs[r].err.msg, "injected failure"));
  }
  CU_ASSERT(took < 30.0);
}

/* Rank 1 never joins round 1: rank 0 stops at the collectives' timeout (2 s) with DPT_ETIMEOUT,
 * here at the host barrier every call starts at. NCCL's initialisation has its own deadline. */
static void test_nccl_timeout_when_a_rank_stalls(void)
{
  nccl_job jobs[2] = {plain_job(4099, 2), plain_job(4099, 2)};
  jobs[1].skip_at = 1;
  run_nccl_deadlines(2, 60.0, 2.0, jobs);
  printf("\n  expected: %s\n", jobs[0].err.msg);
  CU_ASSERT_EQUAL(jobs[0].rc, DPT_ETIMEOUT);
  CU_ASSERT(jobs[0].failed_after_s < 20.0);
  CU_ASSERT_EQUAL(jobs[1].rc, 0);
}

/* NCCL's initialisation waits for the slowest rank up to its own deadline, not the collectives'
 * (issue 13, section 3.2): rank 1 attaches 4 s late, beyond the collectives' 1 s, within the
 * initialisation's 60 s, and every call succeeds. */
static void test_nccl_init_has_its_own_deadline(void)
{
  nccl_job jobs[2] = {plain_job(4099, 2), plain_job(4099, 2)};
  jobs[1].attach_late_s = 4.0;
  run_nccl_deadlines(2, 60.0, 1.0, jobs);
  for (int r = 0; r < 2; r++) {
    if (jobs[r].rc) printf("\n  rank %d: %s\n", r, jobs[r].err.msg);
    CU_ASSERT_EQUAL(jobs[r].rc, 0);
    CU_ASSERT_EQUAL(jobs[r].wrong, 0);
  }
}

/* The host barrier passes (it meets rank 0 alone), rank 0's allreduce is queued, and rank 1 never
 * joins it: the wait inside the NCCL operation must end at the deadline (2 s), with
 * DPT_ETIMEOUT and the communicator's own message. */
static void test_nccl_timeout_inside_a_collective(void)
{
  nccl_job jobs[2] = {plain_job(4099, 2), plain_job(4099, 2)};
  jobs[1].skip_at = 1;
  run_nccl_apart(2.0, jobs);
  printf("\n  expected: %s (after %.1f s)\n", jobs[0].err.msg, jobs[0].failed_after_s);
  CU_ASSERT_EQUAL(jobs[0].rc, DPT_ETIMEOUT);
  CU_ASSERT_PTR_NOT_NULL(strstr(jobs[0].err.msg, "comm nccl: allreduce: rank 0: not done after"));
  CU_ASSERT(jobs[0].failed_after_s >= 2.0 && jobs[0].failed_after_s < 20.0);
  CU_ASSERT_EQUAL(jobs[1].rc, 0);
}

/* ------------------------------------------------------------------------------------------ */
/* ps over pinned memory against allreduce, through the sync layer                            */

enum { SYNC_N = 4099, SYNC_STEPS = 20 };

static float sync_init[SYNC_N];

typedef struct sync_job {
  dpt_sync *sync;
  dpt_device_kind kind;
  int worker;
  float final[SYNC_N]; /* the replica after the last step */
  int rc;
  dpt_err err;
} sync_job;

/* Worker w's gradient at step s: the same on every device kind and strategy. */
static void step_grads(int w, int s, float *g)
{
  dpt_rng rng;
  dpt_rng_seed(&rng, 7919 * (uint64_t)s + (uint64_t)w + 1);
  for (size_t i = 0; i < SYNC_N; i++) g[i] = 0.02f * dpt_rng_normal(&rng);
}

static int sync_steps(sync_job *j, dpt_device *dev, float *params)
{
  float g[SYNC_N], *grads = NULL;
  int rc = dpt_dev_copy_h2d(dev, params, sync_init, sizeof g, &j->err);
  if (!rc) rc = dpt_sync_attach(j->sync, j->worker, dev, sync_init, &grads, &j->err);
  for (int s = 0; s < SYNC_STEPS && !rc; s++) {
    step_grads(j->worker, s, g);
    rc = dpt_dev_copy_h2d(dev, grads, g, sizeof g, &j->err);
    /* g is refilled next step, and an exchange need not wait for the device (dpt/sync.h). */
    if (!rc) rc = dpt_dev_sync(dev, &j->err);
    if (!rc)
      rc = dpt_sync_exchange(j->sync, j->worker, params, 0.05f, NULL, NULL, NULL, false, NULL,
                             &j->err);
  }
  if (!rc) rc = dpt_dev_copy_d2h(dev, j->final, params, sizeof g, &j->err);
  dpt_sync_detach(j->sync, j->worker);
  return rc;
}

static void *sync_worker_main(void *p)
{
  sync_job *j = p;
  dpt_device dev;
  void *params = NULL;
  j->rc = dpt_device_open(j->kind, j->worker, 1, &dev, &j->err);
  if (!j->rc) {
    j->rc = dpt_dev_alloc(&dev, sizeof sync_init, &params, &j->err);
    if (!j->rc) j->rc = sync_steps(j, &dev, params);
    dpt_dev_free(&dev, params);
    dpt_device_close(&dev);
  }
  if (j->rc) dpt_sync_abort(j->sync, j->rc, j->err.msg);
  return NULL;
}

/* workers threads exchange SYNC_STEPS fixed gradients; jobs[w].final gets each replica. */
static void run_sync(dpt_strategy strategy, dpt_device_kind kind, int workers, sync_job *jobs)
{
  dpt_sync_config cfg = {.strategy = strategy, .device = kind, .n_workers = workers,
                         .n_params = SYNC_N, .ps_shards = 3, .momentum = 0.9f,
                         .weight_decay = 1e-4f, .timeout_s = 60.0, .init_params = sync_init};
  dpt_sync s;
  dpt_err err = {0};
  int rc = dpt_sync_create(&cfg, &s, &err);
  if (rc) fprintf(stderr, "sync: %s\n", err.msg);
  CU_ASSERT_FATAL(rc == 0);
  pthread_t t[MAX_GPUS];
  for (int w = 0; w < workers; w++) {
    jobs[w] = (sync_job){.sync = &s, .kind = kind, .worker = w};
    CU_ASSERT_FATAL(pthread_create(&t[w], NULL, sync_worker_main, &jobs[w]) == 0);
  }
  for (int w = 0; w < workers; w++) pthread_join(t[w], NULL);
  dpt_sync_destroy(&s);
  for (int w = 0; w < workers; w++) {
    if (jobs[w].rc) fprintf(stderr, "worker %d: %s\n", w, jobs[w].err.msg);
    CU_ASSERT_EQUAL(jobs[w].rc, 0);
  }
}

static sync_job ps_gpu[MAX_GPUS], ps_cpu[MAX_GPUS], ar_gpu[MAX_GPUS];

/* ps on GPUs moves bytes between pinned buffers and the device; the server's arithmetic is the
 * CPU path's, so its parameters match ps on CPU devices bit for bit. Allreduce on GPUs sums in
 * NCCL's order and steps on the device: equal within rounding, and the same on every replica. */
static void test_ps_over_pinned_memory_matches_allreduce(void)
{
  dpt_rng rng;
  dpt_rng_seed(&rng, 5);
  for (size_t i = 0; i < SYNC_N; i++) sync_init[i] = 0.1f * dpt_rng_normal(&rng);
  int workers = gpus;
  run_sync(DPT_STRATEGY_PS, DPT_DEVICE_CUDA, workers, ps_gpu);
  run_sync(DPT_STRATEGY_PS, DPT_DEVICE_CPU, workers, ps_cpu);
  run_sync(DPT_STRATEGY_ALLREDUCE, DPT_DEVICE_CUDA, workers, ar_gpu);
  for (int w = 0; w < workers; w++) {
    CU_ASSERT_EQUAL(memcmp(ps_gpu[w].final, ps_cpu[w].final, sizeof sync_init), 0);
    CU_ASSERT_EQUAL(memcmp(ar_gpu[w].final, ar_gpu[0].final, sizeof sync_init), 0);
    size_t off = dpt_test_count_mismatch(ar_gpu[w].final, ps_gpu[w].final, SYNC_N, 1e-5f, 1e-4f);
    if (off) printf("\n  worker %d: %zu of %d parameters differ beyond rounding\n", w, off, SYNC_N);
    CU_ASSERT_EQUAL(off, 0);
  }
}

/* ------------------------------------------------------------------------------------------ */
/* Training on CUDA against the CPU path                                                      */

enum { EPOCHS = 3 };

static char data_dir[4096];

typedef struct loss_curve {
  int epochs;
  double train_loss[EPOCHS];
} loss_curve;

static void record_epoch(void *ctx, const dpt_epoch_stats *st)
{
  loss_curve *c = ctx;
  if (c->epochs < EPOCHS) c->train_loss[c->epochs++] = st->train_loss;
}

static loss_curve train_curve(dpt_device_select device, dpt_strategy strategy, int workers)
{
  dpt_config cfg;
  dpt_config_defaults(&cfg);
  cfg.data_dir = data_dir;
  cfg.hidden[0] = 48;
  cfg.hidden[1] = 24;
  cfg.n_hidden = 2;
  cfg.epochs = EPOCHS;
  cfg.batch = 40;
  cfg.schedule.base_lr = 0.05f;
  cfg.quiet = true;
  cfg.device = device;
  cfg.strategy = strategy;
  cfg.workers = workers;
  cfg.timeout_s = 120;
  loss_curve curve = {0};
  dpt_observer obs = {.ctx = &curve, .on_epoch = record_epoch};
  dpt_result r;
  dpt_err err = {0};
  int rc = dpt_train(&cfg, &obs, &r, &err);
  if (rc) fprintf(stderr, "train on %s: %s\n", device == DPT_DEVICE_SELECT_CUDA ? "cuda" : "cpu",
                  err.msg);
  CU_ASSERT_FATAL(rc == 0);
  CU_ASSERT_STRING_EQUAL(r.device, device == DPT_DEVICE_SELECT_CUDA ? "cuda" : "cpu");
  CU_ASSERT_EQUAL(curve.epochs, EPOCHS);
  return curve;
}

/* Per-epoch training loss within 1e-3 relative of the CPU path's, for both strategies, on one
 * GPU and on all of them. */
static void test_cuda_loss_curve_matches_cpu(void)
{
  int counts[2] = {1, gpus};
  DPT_TEST_FOR_EACH_STRATEGY(s) {
    dpt_strategy strategy = *s;
    for (int c = 0; c < (gpus > 1 ? 2 : 1); c++) {
      loss_curve cpu = train_curve(DPT_DEVICE_SELECT_CPU, strategy, counts[c]);
      loss_curve gpu = train_curve(DPT_DEVICE_SELECT_CUDA, strategy, counts[c]);
      for (int e = 0; e < EPOCHS; e++) {
        double rel = fabs(gpu.train_loss[e] - cpu.train_loss[e]) / fabs(cpu.train_loss[e]);
        printf("\n  %s, %d worker(s), epoch %d: cpu %.6f cuda %.6f (rel %.1e)",
               dpt_strategy_name(strategy), counts[c], e + 1, cpu.train_loss[e],
               gpu.train_loss[e], rel);
        CU_ASSERT(rel <= 1e-3);
      }
    }
  }
}

/* ------------------------------------------------------------------------------------------ */

int dpt_test_register(void)
{
  static const dpt_test_case nccl[] = {DPT_TEST(test_nccl_collectives_exact_every_gpu_count),
                                       DPT_TEST(test_nccl_abort_wakes_every_rank), DPT_TEST_END};
  static const dpt_test_case multi[] = {DPT_TEST(test_nccl_timeout_when_a_rank_stalls),
                                        DPT_TEST(test_nccl_init_has_its_own_deadline),
                                        DPT_TEST(test_nccl_timeout_inside_a_collective),
                                        DPT_TEST_END};
  static const dpt_test_case sync[] = {DPT_TEST(test_ps_over_pinned_memory_matches_allreduce),
                                       DPT_TEST_END};
  static const dpt_test_case train[] = {DPT_TEST(test_cuda_loss_curve_matches_cpu), DPT_TEST_END};
  static const char *const suites[] = {"cuda_nccl", "cuda_nccl_two_gpus", "cuda_sync",
                                       "cuda_train"};
  int rc = dpt_test_add_suite(suites[0], nccl);
  if (!rc) rc = dpt_test_add_suite(suites[1], multi);
  if (!rc) rc = dpt_test_add_suite(suites[2], sync);
  if (!rc) rc = dpt_test_add_suite(suites[3], train);
  if (rc) return rc;

  gpus = dpt_test_cuda_devices("test_cuda_sync", suites, sizeof suites / sizeof suites[0]);
  if (gpus > MAX_GPUS) gpus = MAX_GPUS;
  if (gpus == 0) return CUE_SUCCESS;
  dpt_test_path(data_dir, sizeof data_dir, "synth");
  char cmd[4200];
  snprintf(cmd, sizeof cmd, "mkdir -p '%s'", data_dir);
  if (system(cmd) != 0 || dpt_synth_write(data_dir, 1001, 200, 6, 7, 5, 17) != 0)
    return CUE_NOREGISTRY;
  if (gpus == 1) {
    printf("test_cuda_sync: one GPU: the two-GPU suite does not run\n");
    CU_set_suite_active(CU_get_suite(suites[1]), CU_FALSE);
  }
  return CUE_SUCCESS;
}
