/* Across MPI processes (run under mpiexec -n 2 and -n 3 by ctest -L mpi): the channel's sum in
 * rank order, the hierarchical allreduce's two-level order, the parameter server over MPI giving
 * the allreduce's bits (skip votes included), the stale server over MPI (its bound, a remote
 * worker's dropped push, every push applied once), and waits that abort, time out and cancel. Every
 * process checks its own results; the data are random floats, so any other order of the sums
 * changes bits. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dpt/comm.h"
#include "dpt/ps.h"
#include "dpt/rng.h"
#include "dpt/timer.h"
#include "host/comm/comm_group.h"
#include "host/comm/comm_hier.h"
#include "kernels/kn_math.h"
#include "mpi/mpi_chan.h"
#include "mpi/mpi_env.h"
#include "tests/lib/test_util.h"

enum { LOCAL = 3 };

static dpt_mpi_env env;
static dpt_mpi_chan *sync_chan; /* lines the processes up before a channel with a short timeout */

/* Element i of global worker g's buffer in round r: a random float, from nothing else. */
static float value(int g, int r, size_t i)
{
  dpt_rng rng;
  dpt_rng_seed(&rng, ((uint64_t)g << 40) ^ ((uint64_t)r << 32) ^ (uint64_t)i);
  return dpt_rng_normal(&rng) * (float)(1 + g);
}

/* The order every strategy must follow: per process, its workers in order; then the processes. */
static float two_level_sum(int procs, int local, int r, size_t i)
{
  float total = 0;
  for (int p = 0; p < procs; p++) {
    float part = value(p * local, r, i);
    for (int w = 1; w < local; w++) part = part + value(p * local + w, r, i);
    total = p == 0 ? part : total + part;
  }
  return total;
}

static size_t count_wrong_bits(const float *got, const float *want, size_t n)
{
  size_t wrong = 0;
  for (size_t i = 0; i < n; i++) wrong += memcmp(&got[i], &want[i], sizeof *got) != 0;
  return wrong;
}

static dpt_mpi_chan *open_chan(const char *name, double timeout_s)
{
  dpt_mpi_chan *c = NULL;
  dpt_err err = {0};
  int rc = dpt_mpi_chan_open(name, timeout_s, &c, &err);
  if (rc) printf("\n  %s\n", err.msg);
  CU_ASSERT_FATAL(rc == 0);
  CU_ASSERT_EQUAL(dpt_mpi_chan_size(c), env.size);
  CU_ASSERT_EQUAL(dpt_mpi_chan_rank(c), env.rank);
  return c;
}

/* ---- the channel ---- */

static void test_chan_sum_in_rank_order(void)
{
  dpt_mpi_chan *c = open_chan("test sum", 30);
  const size_t sizes[] = {0, 1, 2, 5, 1000, 65537};
  for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
    size_t n = sizes[k];
    float *buf = malloc((n + 1) * sizeof *buf), *want = malloc((n + 1) * sizeof *want);
    CU_ASSERT_FATAL(buf && want);
    for (size_t i = 0; i < n; i++) {
      buf[i] = value(env.rank, (int)k, i);
      want[i] = two_level_sum(env.size, 1, (int)k, i);
    }
    dpt_err err = {0};
    CU_ASSERT_EQUAL(dpt_mpi_chan_sum(c, buf, n, &err), 0);
    size_t wrong = count_wrong_bits(buf, want, n);
    if (wrong) printf("\n  n %zu: %zu wrong\n", n, wrong);
    CU_ASSERT_EQUAL(wrong, 0);
    free(buf);
    free(want);
  }
  dpt_mpi_chan_close(c);
}

static void test_chan_allgather_bcast_barrier(void)
{
  dpt_mpi_chan *c = open_chan("test gather", 30);
  dpt_err err = {0};
  long mine[2] = {env.rank, 100L * env.rank}, all[2 * 8] = {0};
  CU_ASSERT_FATAL(env.size <= 8);
  CU_ASSERT_EQUAL(dpt_mpi_chan_allgather(c, mine, sizeof mine, all, &err), 0);
  for (int r = 0; r < env.size; r++) {
    CU_ASSERT_EQUAL(all[2 * r], r);
    CU_ASSERT_EQUAL(all[2 * r + 1], 100L * r);
  }
  int root = env.size - 1, v[3] = {env.rank, env.rank, env.rank};
  CU_ASSERT_EQUAL(dpt_mpi_chan_bcast(c, v, sizeof v, root, &err), 0);
  CU_ASSERT(v[0] == root && v[2] == root);
  CU_ASSERT_EQUAL(dpt_mpi_chan_bcast(c, v, sizeof v, env.size, &err), DPT_EINTERNAL);
  dpt_mpi_chan_close(c); /* aborted by the bad root: left allocated, see mpi_chan.h */
  c = open_chan("test barrier", 30);
  CU_ASSERT_EQUAL(dpt_mpi_chan_barrier(c, &err), 0);
  CU_ASSERT_EQUAL(dpt_mpi_chan_sum_bytes(1000, 1), 0);
  CU_ASSERT_EQUAL(dpt_mpi_chan_sum_bytes(1000, 2), 4000);
  dpt_mpi_chan_close(c);
}

typedef struct recv_job {
  dpt_mpi_chan *c;
  const atomic_bool *cancel;
  int rc;
  double took_s;
  dpt_err err;
} recv_job;

/* A receive nobody answers (tag 999 is never sent). */
static void *lonely_recv(void *p)
{
  recv_job *j = p;
  int x;
  double t0 = dpt_now();
  j->rc = dpt_mpi_chan_recv(j->c, &x, sizeof x, (env.rank + 1) % env.size, 999, j->cancel, &j->err);
  j->took_s = dpt_now() - t0;
  return NULL;
}

/* Opens a channel with a short timeout once every process is here. */
static dpt_mpi_chan *open_short(const char *name, double timeout_s)
{
  dpt_err err = {0};
  CU_ASSERT_FATAL(dpt_mpi_chan_barrier(sync_chan, &err) == 0);
  return open_chan(name, timeout_s);
}

static void test_chan_waits_end(void)
{
  /* Abort: wakes a receive with a long timeout at once, with the abort's code and message. */
  recv_job j = {.c = open_chan("test abort", 60)};
  pthread_t t;
  CU_ASSERT_FATAL(pthread_create(&t, NULL, lonely_recv, &j) == 0);
  dpt_sleep(0.1);
  dpt_mpi_chan_abort(j.c, DPT_EDEVICE, "worker 1: the device failed");
  pthread_join(t, NULL);
  CU_ASSERT_EQUAL(j.rc, DPT_EDEVICE);
  CU_ASSERT(j.took_s < 10);
  CU_ASSERT_STRING_EQUAL(j.err.msg, "worker 1: the device failed");
  dpt_err err = {0};
  CU_ASSERT_EQUAL(dpt_mpi_chan_barrier(j.c, &err), DPT_EDEVICE); /* later calls fail at once */
  dpt_mpi_chan_close(j.c);

  /* Timeout: the message names the operation and the process waited for. */
  j = (recv_job){.c = open_short("test timeout", 1)};
  lonely_recv(&j);
  CU_ASSERT_EQUAL(j.rc, DPT_ETIMEOUT);
  CU_ASSERT(j.took_s >= 0.95 && j.took_s < 10);
  char want[128];
  snprintf(want, sizeof want,
           "mpi test timeout: receive: timed out after 1 s waiting for process %d",
           (env.rank + 1) % env.size);
  CU_ASSERT_STRING_EQUAL(j.err.msg, want);
  dpt_mpi_chan_close(j.c);

  /* Cancel: no deadline, ends on request, and the channel stays usable. */
  atomic_bool cancel;
  atomic_init(&cancel, false);
  j = (recv_job){.c = open_short("test cancel", 1), .cancel = &cancel};
  CU_ASSERT_FATAL(pthread_create(&t, NULL, lonely_recv, &j) == 0);
  dpt_sleep(1.5); /* past the channel's timeout, which a cancellable receive does not have */
  atomic_store(&cancel, true);
  pthread_join(t, NULL);
  CU_ASSERT_EQUAL(j.rc, DPT_EABORTED);
  CU_ASSERT(j.took_s >= 1.45);
  CU_ASSERT_EQUAL(dpt_mpi_chan_barrier(sync_chan, &err), 0);
  CU_ASSERT_EQUAL(dpt_mpi_chan_barrier(j.c, &err), 0);
  dpt_mpi_chan_close(j.c);
}

/* ---- the hierarchical allreduce and the parameter server over MPI ---- */

enum { N = 4099, ROUNDS = 6, SHARDS = 3 };
static const float LR = 0.05f, MOMENTUM = 0.9f, WD = 0.01f;

typedef struct local_job {
  int w;
  dpt_comm comm; /* hierarchical */
  dpt_ps *ps;
  float *grads, *params, *ref_params, *velocity;
  size_t wrong_sum, wrong_params;
  dpt_votes votes_seen[ROUNDS];
  int rc;
  dpt_err err;
} local_job;

static void alloc_job(local_job *j)
{
  j->grads = malloc(N * sizeof(float));
  j->params = malloc(N * sizeof(float));
  j->ref_params = malloc(N * sizeof(float));
  j->velocity = calloc(N, sizeof(float));
  CU_ASSERT_FATAL(j->grads && j->params && j->ref_params && j->velocity);
}

static void free_job(local_job *j)
{
  free(j->grads);
  free(j->params);
  free(j->ref_params);
  free(j->velocity);
}

/* body on one thread per job, as the local workers of a process; each must end without error. */
static void run_local(local_job *jobs, void *(*body)(void *))
{
  pthread_t t[LOCAL];
  for (int w = 0; w < LOCAL; w++) CU_ASSERT_FATAL(pthread_create(&t[w], NULL, body, &jobs[w]) == 0);
  for (int w = 0; w < LOCAL; w++) {
    pthread_join(t[w], NULL);
    if (jobs[w].rc) printf("\n  worker %d: %s\n", w, jobs[w].err.msg);
    CU_ASSERT_EQUAL(jobs[w].rc, 0);
  }
}

static void *hier_worker(void *p)
{
  local_job *j = p;
  int g = j->comm.rank;
  for (int r = 0; r < ROUNDS && !j->rc; r++) {
    for (size_t i = 0; i < N; i++) j->grads[i] = value(g, r, i);
    j->rc = dpt_comm_allreduce_sum(&j->comm, j->grads, N, &j->err);
    for (size_t i = 0; i < N && !j->rc; i++) {
      float want = two_level_sum(env.size, LOCAL, r, i);
      j->wrong_sum += memcmp(&j->grads[i], &want, sizeof want) != 0;
    }
  }
  float x[5] = {(float)g, (float)g, (float)g, (float)g, (float)g};
  int root = env.size * LOCAL - 2; /* another process's worker, when there are several */
  if (!j->rc) j->rc = dpt_comm_broadcast(&j->comm, x, 5, root, &j->err);
  if (!j->rc) j->wrong_sum += x[0] != (float)root || x[4] != (float)root;
  if (!j->rc) j->rc = dpt_comm_barrier(&j->comm, &j->err);
  return NULL;
}

static void test_hier_allreduce_two_level_order(void)
{
  dpt_comm_hier *h = NULL;
  dpt_err err = {0};
  int rc = dpt_comm_hier_create(LOCAL, 30, &h, &err);
  if (rc) printf("\n  %s\n", err.msg);
  CU_ASSERT_FATAL(rc == 0);
  local_job jobs[LOCAL];
  for (int w = 0; w < LOCAL; w++) {
    jobs[w] = (local_job){.w = w, .comm = dpt_comm_hier_rank(h, w)};
    CU_ASSERT_EQUAL(jobs[w].comm.rank, env.rank * LOCAL + w);
    CU_ASSERT_EQUAL(jobs[w].comm.size, env.size * LOCAL);
    alloc_job(&jobs[w]);
  }
  run_local(jobs, hier_worker);
  for (int w = 0; w < LOCAL; w++) {
    CU_ASSERT_EQUAL(jobs[w].wrong_sum, 0);
    free_job(&jobs[w]);
  }
  size_t in_process = 2 * (LOCAL - 1) * 1000 * sizeof(float) / LOCAL;
  CU_ASSERT(dpt_comm_allreduce_bytes(&jobs[0].comm, 1000) >= in_process);
  dpt_comm_hier_destroy(h);
}

/* Global worker g's votes in round r: the last one votes to skip round 3 (nothing may change);
 * the first and the last vote to stop round 4 (counted only). */
static dpt_votes votes_of(int g, int r)
{
  int last = env.size * LOCAL - 1;
  return (dpt_votes){.skip = r == 3 && g == last, .stop = r == 4 && (g == 0 || g == last)};
}

/* Each local worker pushes and pulls through the ps, and keeps a replica stepped the allreduce
 * way (hierarchical sum, then kn_sgd_step_at): both must hold the same bits after every round. */
static void *ps_worker(void *p)
{
  local_job *j = p;
  int g = j->comm.rank;
  for (int r = 0; r < ROUNDS && !j->rc; r++) {
    for (size_t i = 0; i < N; i++) j->grads[i] = value(g, r, i);
    dpt_votes mine = votes_of(g, r);
    j->rc = dpt_ps_push(j->ps, j->w, j->grads, LR, &mine, &j->err);
    dpt_ps_round round = {0};
    if (!j->rc) j->rc = dpt_ps_pull(j->ps, j->w, j->params, &round, &j->err);
    if (j->rc) break;
    j->votes_seen[r] = round.votes;
    j->rc = dpt_comm_allreduce_sum(&j->comm, j->grads, N, &j->err);
    if (r != 3)
      for (size_t i = 0; i < N && !j->rc; i++)
        kn_sgd_step_at(i, j->ref_params, j->grads, j->velocity, LR, MOMENTUM, WD);
    j->wrong_params += count_wrong_bits(j->params, j->ref_params, N);
  }
  return NULL;
}

static void test_ps_over_mpi_matches_allreduce(void)
{
  float *init = malloc(N * sizeof *init);
  CU_ASSERT_FATAL(init != NULL);
  for (size_t i = 0; i < N; i++) init[i] = value(1000, 0, i);
  dpt_ps_config cfg = {.n_params = N, .n_workers = LOCAL, .n_shards = SHARDS,
                       .momentum = MOMENTUM, .weight_decay = WD, .timeout_s = 30,
                       .procs = env.size, .proc_rank = env.rank};
  dpt_ps *ps = NULL;
  dpt_comm_hier *h = NULL;
  dpt_err err = {0};
  int rc = dpt_ps_create(&cfg, init, &ps, &err);
  if (!rc) rc = dpt_comm_hier_create(LOCAL, 30, &h, &err);
  if (rc) printf("\n  %s\n", err.msg);
  CU_ASSERT_FATAL(rc == 0);
  local_job jobs[LOCAL];
  for (int w = 0; w < LOCAL; w++) {
    jobs[w] = (local_job){.w = w, .comm = dpt_comm_hier_rank(h, w), .ps = ps};
    alloc_job(&jobs[w]);
    memcpy(jobs[w].ref_params, init, N * sizeof *init);
  }
  run_local(jobs, ps_worker);
  for (int w = 0; w < LOCAL; w++) {
    CU_ASSERT_EQUAL(jobs[w].wrong_params, 0);
    for (int r = 0; r < ROUNDS; r++) {
      CU_ASSERT_EQUAL(jobs[w].votes_seen[r].skip, r == 3 ? 1 : 0);
      CU_ASSERT_EQUAL(jobs[w].votes_seen[r].stop, r == 4 ? 2 : 0);
    }
    free_job(&jobs[w]);
  }
  dpt_ps_stats st;
  dpt_ps_get_stats(ps, &st);
  CU_ASSERT_EQUAL(st.rounds, env.rank == 0 ? ROUNDS : 0); /* the server is on process 0 */
  dpt_comm_hier_destroy(h);
  dpt_ps_destroy(ps);
  free(init);
}

/* The stale server over MPI (staleness S_STALE): every process's workers push STALE_PUSHES times
 * into process 0's server, each push adding 1 to its global worker's own parameter (lr 1, no
 * momentum), except the one the last process's worker 0 votes to skip. Each pull holds every
 * worker's pushes up to S behind the puller's clock, and the puller alone hears its push dropped;
 * at the end every process reads the server's parameters, which count every push applied once. */
enum { S_STALE = 1, STALE_PUSHES = 8, STALE_SKIPPED = 3 };

typedef struct stale_job {
  int w, g;
  dpt_ps *ps;
  float grads[LOCAL * 8], params[LOCAL * 8];
  int all, skipper; /* workers of every process; the global worker that skips */
  int wrong, rc;
  uint64_t max_staleness;
  dpt_err err;
} stale_job;

static void *stale_worker(void *arg)
{
  stale_job *j = arg;
  for (int r = 0; r < STALE_PUSHES && !j->rc; r++) {
    for (int i = 0; i < j->all; i++) j->grads[i] = i == j->g ? -1.f : 0.f;
    bool skip = j->g == j->skipper && r == STALE_SKIPPED;
    dpt_votes v = {.skip = skip};
    dpt_ps_round round = {0};
    j->rc = dpt_ps_push(j->ps, j->w, j->grads, 1.f, &v, &j->err);
    if (!j->rc) j->rc = dpt_ps_pull(j->ps, j->w, j->params, &round, &j->err);
    if (j->rc) break;
    j->wrong += round.votes.skip != skip; /* the answer reached its worker, and it alone */
    if (round.staleness > j->max_staleness) j->max_staleness = round.staleness;
    int clock = r + 1;
    for (int h = 0; h < j->all; h++) {
      float got = j->params[h], dropped = h == j->skipper && clock > STALE_SKIPPED;
      if (h == j->g) j->wrong += got != (float)clock - dropped;
      else j->wrong += got < (float)(clock - S_STALE) - dropped; /* within S of the puller */
    }
  }
  return NULL;
}

static void test_stale_ps_over_mpi(void)
{
  int all = LOCAL * env.size;
  CU_ASSERT_FATAL(all <= LOCAL * 8);
  float init[LOCAL * 8] = {0};
  dpt_ps_config cfg = {.n_params = (size_t)all, .n_workers = LOCAL, .n_shards = 2,
                       .timeout_s = 30, .staleness = S_STALE, .procs = env.size,
                       .proc_rank = env.rank};
  dpt_ps *ps = NULL;
  dpt_err err = {0};
  int rc = dpt_ps_create(&cfg, init, &ps, &err);
  if (rc) printf("\n  %s\n", err.msg);
  CU_ASSERT_FATAL(rc == 0);
  stale_job jobs[LOCAL];
  pthread_t t[LOCAL];
  for (int w = 0; w < LOCAL; w++) {
    jobs[w] = (stale_job){.w = w, .g = env.rank * LOCAL + w, .ps = ps, .all = all,
                          .skipper = (env.size - 1) * LOCAL};
    CU_ASSERT_FATAL(pthread_create(&t[w], NULL, stale_worker, &jobs[w]) == 0);
  }
  for (int w = 0; w < LOCAL; w++) {
    pthread_join(t[w], NULL);
    if (jobs[w].rc) printf("\n  worker %d: %s\n", w, jobs[w].err.msg);
    CU_ASSERT_EQUAL(jobs[w].rc, 0);
    CU_ASSERT_EQUAL(jobs[w].wrong, 0);
    CU_ASSERT(jobs[w].max_staleness <= S_STALE);
  }
  /* Once every process's pushes are in, each worker of each process reads the same counts. */
  CU_ASSERT_EQUAL(dpt_mpi_chan_barrier(sync_chan, &err), 0);
  float final[LOCAL * 8];
  for (int w = 0; w < LOCAL; w++) {
    CU_ASSERT_EQUAL(dpt_ps_read_params(ps, w, final, &err), 0);
    for (int h = 0; h < all; h++)
      CU_ASSERT_EQUAL(final[h], (float)STALE_PUSHES - (h == jobs[0].skipper));
  }
  dpt_ps_stats st;
  dpt_ps_get_stats(ps, &st);
  if (env.rank == 0) { /* the server is on process 0 */
    CU_ASSERT_EQUAL(st.pushes_applied, (uint64_t)(all * STALE_PUSHES - 1));
    CU_ASSERT_EQUAL(st.pushes_dropped, 1);
  }
  CU_ASSERT_EQUAL(dpt_mpi_chan_barrier(sync_chan, &err), 0); /* no read still in flight */
  dpt_ps_destroy(ps);
}

/* Every process runs the same tests in the same order: each opens its channels collectively. */
static int start_mpi(void)
{
  dpt_err err = {0};
  if (dpt_mpi_env_init(NULL, NULL, &env, &err) || !env.started ||
      dpt_mpi_chan_open("test sync", 60, &sync_chan, &err)) {
    fprintf(stderr, "test_mpi: %s\n", env.started ? err.msg : "not started by mpiexec");
    return 1;
  }
  return 0;
}

/* allreduce on CUDA devices over processes: every process gets process 0's NCCL id over MPI and
 * its ranks count every process's. Needs no GPU (until the workers attach); needs NCCL. */
static void test_nccl_group_spans_processes(void)
{
  if (!DPT_TEST_HAVE_NCCL) return;
  dpt_comm_group *g = NULL;
  dpt_err err = {0};
  int rc = dpt_comm_group_create(DPT_DEVICE_CUDA, LOCAL, env.size, 10.0, &g, &err);
  if (rc) printf("\n  %s\n", err.msg);
  CU_ASSERT_EQUAL_FATAL(rc, 0);
  dpt_comm c = dpt_comm_group_rank(g, 1);
  CU_ASSERT_EQUAL(c.rank, env.rank * LOCAL + 1);
  CU_ASSERT_EQUAL(c.size, env.size * LOCAL);
  dpt_comm_group_destroy(g);
}

static int end_mpi(void)
{
  dpt_mpi_chan_close(sync_chan);
  dpt_mpi_env_finalize(&env);
  return 0;
}

int dpt_test_register(void)
{
  CU_pSuite s = CU_add_suite("mpi", start_mpi, end_mpi);
  if (!s) return CU_get_error();
  static const dpt_test_case tests[] = {
      DPT_TEST(test_chan_sum_in_rank_order),
      DPT_TEST(test_chan_allgather_bcast_barrier),
      DPT_TEST(test_chan_waits_end),
      DPT_TEST(test_hier_allreduce_two_level_order),
      DPT_TEST(test_ps_over_mpi_matches_allreduce),
      DPT_TEST(test_stale_ps_over_mpi),
      DPT_TEST(test_nccl_group_spans_processes),
      DPT_TEST_END,
  };
  for (const dpt_test_case *t = tests; t->name; t++)
    if (!CU_add_test(s, t->name, t->fn)) return CU_get_error();
  return CUE_SUCCESS;
}
