/* The emulated CUDA device (emu/, built with -DDPT_CUDA_EMU=ON) catches what it is for. Each case
 * runs the project's GPU host code, or the CUDA API it calls, in the way that must fail:
 *  - host code that reads a device pointer dies (a forked child does it);
 *  - an NCCL collective issued without waiting for the upload that wrote its buffer reads stale
 *    data once stream work is delayed, while the same code with the wait is exact;
 *  - cudaStreamWaitEvent orders two streams;
 *  - NCCL refuses one device twice in a communicator;
 *  - the NCCL communicator's barrier is an NCCL operation (it meets every process's ranks);
 *  - a device's allocations from another thread stay in that device's context;
 *  - the per-device counters count each kind of call;
 *  - an NCCL error already on a rank's communicator when it queues its next sum is reported with
 *    the rank and the cause, not NCCL's generic text.
 * The cases that must crash or race run in a child: this program again (exec, so that the child
 * starts without the parent's threads), told by DPT_TEST_EMU_CHILD what to do. Its exit status
 * says what happened, and its output goes to a file in the test's temp folder. Under
 * ThreadSanitizer the missing synchronisation is a data race report, which ends the child.
 * The faults asked for by environment variables are tests/cuda_emu_cli.sh's, but for the NCCL
 * error of the case above, which a child sets for itself before its first CUDA call. */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dpt/barrier.h"
#include "dpt/device.h"
#include "emu/cuda_emu.h"
#include "host/comm/comm_nccl.h"
#include "tests/lib/test_util.h"

/* A child's exit statuses; ThreadSanitizer's own is 66. */
enum { CHILD_SURVIVED = 0, CHILD_SETUP_FAILED = 3, CHILD_WRONG_DATA = 10, CHILD_TSAN = 66 };

/* Runs this program as the child `what`, its output into DPT_TEST_TMPDIR/what.log; returns its
 * wait status and the log's path in log. */
static int run_child(const char *what, char *log, size_t log_size)
{
  dpt_test_path(log, log_size, what);
  strncat(log, ".log", log_size - strlen(log) - 1);
  fflush(NULL);
  pid_t child = fork();
  CU_ASSERT_FATAL(child >= 0);
  if (child == 0) {
    int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0 || setenv("DPT_TEST_EMU_CHILD", what, 1))
      _exit(CHILD_SETUP_FAILED);
    execl("/proc/self/exe", "test_cuda_emu", (char *)NULL);
    _exit(CHILD_SETUP_FAILED);
  }
  int status = 0;
  CU_ASSERT_EQUAL_FATAL(waitpid(child, &status, 0), child);
  printf("\n  child %s: %s %d", what, WIFSIGNALED(status) ? "signal" : "exit",
         WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
  return status;
}

/* The lines of the file that hold the text. */
static int log_count(const char *path, const char *text)
{
  FILE *f = fopen(path, "r");
  char line[512];
  int found = 0;
  while (f && fgets(line, sizeof line, f)) found += strstr(line, text) != NULL;
  if (f) fclose(f);
  return found;
}

static bool log_has(const char *path, const char *text) { return log_count(path, text) > 0; }

static void print_log(const char *path)
{
  FILE *f = fopen(path, "r");
  char line[512];
  while (f && fgets(line, sizeof line, f)) printf("\n  %s", line);
  if (f) fclose(f);
}

/* --- device memory is out of the host's reach --- */

static int read_device_memory(void)
{
  dpt_device dev;
  dpt_err err = {0};
  void *p = NULL;
  if (dpt_device_open(DPT_DEVICE_CUDA, 0, 0, &dev, &err) || dpt_dev_alloc(&dev, 64, &p, &err) ||
      dpt_dev_zero(&dev, p, 64, &err) || dpt_dev_sync(&dev, &err))
    return CHILD_SETUP_FAILED;
  volatile float *host_view = p;
  float v = host_view[3];
  (void)v;
  return CHILD_SURVIVED;
}

static void test_host_read_of_device_pointer_crashes(void)
{
  char log[4096];
  int status = run_child("read_device", log, sizeof log);
  /* SIGSEGV, or a sanitizer's report of it (it exits non-zero instead). */
  bool segv = WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV;
  bool reported = WIFEXITED(status) && WEXITSTATUS(status) != CHILD_SURVIVED &&
                  WEXITSTATUS(status) != CHILD_SETUP_FAILED && log_has(log, "SEGV");
  CU_ASSERT(segv || reported);

  /* Pinned host memory is ordinary memory the host reads and writes. */
  dpt_device dev;
  dpt_err err = {0};
  float *pinned = NULL;
  CU_ASSERT_EQUAL_FATAL(dpt_device_open(DPT_DEVICE_CUDA, 0, 0, &dev, &err), 0);
  CU_ASSERT_EQUAL_FATAL(dpt_dev_host_alloc(&dev, 4 * sizeof(float), (void **)&pinned, &err), 0);
  pinned[3] = 2.5f;
  CU_ASSERT_EQUAL(pinned[3], 2.5f);
  dpt_dev_host_free(&dev, pinned);
  dpt_device_close(&dev);
}

/* --- a missing synchronisation shows as wrong data --- */

enum { SYNC_N = 4099, MAX_ROUNDS = 30, RANKS = 2 };

typedef struct upload_job {
  dpt_comm_nccl *group;
  int rank;
  bool wait_for_upload; /* dpt_dev_sync between the upload and the collective, as required */
  size_t wrong;         /* elements of the sums that differed, over every round run */
  int rounds;
  int rc;
  dpt_err err;
  dpt_barrier *round_done; /* both ranks decide together whether to go on */
  bool *stop;
} upload_job;

static float value_at(int rank, size_t i, int round)
{
  return (float)((i % 13) * (rank + 1) + round);
}

static size_t one_round(upload_job *j, dpt_device *dev, dpt_comm *comm, float *dbuf, float *host,
                        int round)
{
  for (size_t i = 0; i < SYNC_N; i++) host[i] = value_at(j->rank, i, round);
  int rc = dpt_dev_copy_h2d(dev, dbuf, host, SYNC_N * sizeof(float), &j->err);
  if (!rc && j->wait_for_upload) rc = dpt_dev_sync(dev, &j->err);
  if (!rc) rc = dpt_comm_allreduce_sum(comm, dbuf, SYNC_N, &j->err);
  if (!rc) rc = dpt_dev_copy_d2h(dev, host, dbuf, SYNC_N * sizeof(float), &j->err);
  if (rc) {
    j->rc = rc;
    dpt_comm_abort(comm, rc, j->err.msg); /* the peer must not wait for this rank */
    return SYNC_N;
  }
  size_t wrong = 0;
  for (size_t i = 0; i < SYNC_N; i++)
    wrong += host[i] != value_at(0, i, round) + value_at(1, i, round);
  return wrong;
}

static void *upload_rank_main(void *p)
{
  upload_job *j = p;
  dpt_device dev;
  dpt_comm comm = dpt_comm_nccl_rank(j->group, j->rank);
  float *host = malloc(SYNC_N * sizeof *host);
  void *dbuf = NULL;
  j->rc = host ? dpt_device_open(DPT_DEVICE_CUDA, j->rank, 0, &dev, &j->err) : DPT_ENOMEM;
  bool opened = !j->rc;
  if (!j->rc) j->rc = dpt_dev_alloc(&dev, SYNC_N * sizeof(float), &dbuf, &j->err);
  if (!j->rc) j->rc = dpt_comm_nccl_attach(j->group, j->rank, dev.index, &j->err);
  for (int round = 0; !j->rc && round < MAX_ROUNDS; round++) {
    size_t wrong = one_round(j, &dev, &comm, dbuf, host, round);
    j->wrong += wrong;
    j->rounds++;
    /* The broken variant stops at the first wrong sum; both ranks agree on it. */
    if (wrong && !j->wait_for_upload) *j->stop = true;
    if (!j->rc) j->rc = dpt_barrier_wait(j->round_done, j->rank, &j->err);
    if (*j->stop || j->rc) break;
    if (!j->rc) j->rc = dpt_barrier_wait(j->round_done, j->rank, &j->err);
  }
  if (j->rc) {
    dpt_comm_abort(&comm, j->rc, j->err.msg);
    dpt_barrier_abort(j->round_done, j->rc, j->err.msg);
  }
  dpt_comm_nccl_detach(j->group, j->rank);
  if (opened) {
    dpt_dev_free(&dev, dbuf);
    dpt_device_close(&dev);
  }
  free(host);
  return NULL;
}

/* Two ranks, up to MAX_ROUNDS allreduces: the wrong elements over both, or SIZE_MAX when a rank
 * failed. No CUnit assertions: the child runs it outside any test. */
static size_t run_uploads(bool wait_for_upload, int *rounds)
{
  dpt_comm_nccl *g = NULL;
  dpt_err err = {0};
  if (dpt_comm_nccl_create(RANKS, 60.0, &g, &err)) {
    printf("\n  nccl group: %s\n", err.msg);
    return SIZE_MAX;
  }
  dpt_barrier round_done;
  if (dpt_barrier_init(&round_done, RANKS, 60.0, &err)) {
    dpt_comm_nccl_destroy(g);
    return SIZE_MAX;
  }
  bool stop = false;
  upload_job jobs[RANKS];
  pthread_t t[RANKS];
  int started = 0;
  for (; started < RANKS; started++) {
    jobs[started] = (upload_job){.group = g,
                                 .rank = started,
                                 .wait_for_upload = wait_for_upload,
                                 .round_done = &round_done,
                                 .stop = &stop};
    if (pthread_create(&t[started], NULL, upload_rank_main, &jobs[started])) break;
  }
  size_t wrong = started == RANKS ? 0 : SIZE_MAX;
  for (int r = 0; r < started; r++) {
    pthread_join(t[r], NULL);
    if (jobs[r].rc) printf("\n  rank %d: %s\n", r, jobs[r].err.msg);
    if (wrong != SIZE_MAX) wrong = jobs[r].rc ? SIZE_MAX : wrong + jobs[r].wrong;
  }
  *rounds = jobs[0].rounds;
  dpt_barrier_destroy(&round_done);
  dpt_comm_nccl_destroy(g);
  return wrong;
}

/* The child "unsynced": the broken variant, under delays. */
static int upload_without_waiting(void)
{
  dpt_emu_set_delay_us(3000);
  int rounds = 0;
  size_t wrong = run_uploads(false, &rounds);
  printf("without the wait: %zu wrong element(s) after %d round(s)\n", wrong, rounds);
  return wrong == SIZE_MAX ? CHILD_SETUP_FAILED : wrong ? CHILD_WRONG_DATA : 0;
}

/* comm_nccl.h's rule: the caller waits for the device work that wrote buf before a collective,
 * which runs on the communicator's own stream. Under random delays of stream work, leaving the
 * wait out gives wrong sums (each round has about even odds), or under ThreadSanitizer a report
 * of the race; with the wait every sum is exact. */
static void test_missing_sync_gives_wrong_data_under_delays(void)
{
  char log[4096];
  int status = run_child("unsynced", log, sizeof log);
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  bool race = code == CHILD_TSAN && log_has(log, "ThreadSanitizer: data race");
  if (race) printf(" (ThreadSanitizer reported the race)");
  CU_ASSERT(code == CHILD_WRONG_DATA || race);

  dpt_emu_set_delay_us(3000);
  int rounds = 0;
  size_t wrong = run_uploads(true, &rounds);
  printf("\n  with the wait: %zu wrong element(s) in %d rounds\n", wrong, rounds);
  CU_ASSERT_EQUAL(wrong, 0);
  CU_ASSERT_EQUAL(rounds, MAX_ROUNDS);
  dpt_emu_set_delay_us(0);
}

/* --- events order streams --- */

/* Stream a fills a buffer, stream b copies it to the host after waiting for a's event. */
static void test_stream_wait_event_orders_streams(void)
{
  dpt_emu_set_delay_us(2000);
  enum { N = 1 << 16 };
  unsigned char *host = malloc(N);
  CU_ASSERT_FATAL(host != NULL);
  void *buf = NULL;
  cudaStream_t a, b;
  cudaEvent_t filled;
  CU_ASSERT_EQUAL_FATAL(cudaSetDevice(1), cudaSuccess);
  CU_ASSERT_EQUAL_FATAL(cudaMalloc(&buf, N), cudaSuccess);
  CU_ASSERT_EQUAL_FATAL(cudaStreamCreateWithFlags(&a, cudaStreamNonBlocking), cudaSuccess);
  CU_ASSERT_EQUAL_FATAL(cudaStreamCreateWithFlags(&b, cudaStreamNonBlocking), cudaSuccess);
  CU_ASSERT_EQUAL_FATAL(cudaEventCreateWithFlags(&filled, cudaEventDisableTiming), cudaSuccess);
  size_t wrong = 0;
  for (int round = 1; round <= 10; round++) {
    CU_ASSERT_EQUAL(cudaMemsetAsync(buf, round, N, a), cudaSuccess);
    CU_ASSERT_EQUAL(cudaEventRecord(filled, a), cudaSuccess);
    CU_ASSERT_EQUAL(cudaStreamWaitEvent(b, filled, 0), cudaSuccess);
    CU_ASSERT_EQUAL(cudaMemcpyAsync(host, buf, N, cudaMemcpyDeviceToHost, b), cudaSuccess);
    CU_ASSERT_EQUAL(cudaStreamSynchronize(b), cudaSuccess);
    CU_ASSERT_EQUAL(cudaEventQuery(filled), cudaSuccess); /* b waited for it */
    for (size_t i = 0; i < N; i++) wrong += host[i] != round;
  }
  CU_ASSERT_EQUAL(wrong, 0);
  CU_ASSERT_EQUAL(cudaEventDestroy(filled), cudaSuccess);
  CU_ASSERT_EQUAL(cudaStreamDestroy(a), cudaSuccess);
  CU_ASSERT_EQUAL(cudaStreamDestroy(b), cudaSuccess);
  CU_ASSERT_EQUAL(cudaFree(buf), cudaSuccess);
  free(host);
  dpt_emu_set_delay_us(0);
}

/* --- NCCL's rule: one device once per communicator --- */

typedef struct attach_job {
  dpt_comm_nccl *group;
  int rank, ordinal, rc;
  dpt_err err;
} attach_job;

static void *attach_main(void *p)
{
  attach_job *j = p;
  j->rc = dpt_comm_nccl_attach(j->group, j->rank, j->ordinal, &j->err);
  dpt_comm_nccl_detach(j->group, j->rank);
  return NULL;
}

static void test_nccl_refuses_a_device_twice(void)
{
  dpt_comm_nccl *g = NULL;
  dpt_err err = {0};
  CU_ASSERT_EQUAL_FATAL(dpt_comm_nccl_create(2, 30.0, &g, &err), 0);
  attach_job jobs[2] = {{.group = g, .rank = 0, .ordinal = 2},
                        {.group = g, .rank = 1, .ordinal = 2}};
  pthread_t t[2];
  for (int r = 0; r < 2; r++)
    CU_ASSERT_FATAL(pthread_create(&t[r], NULL, attach_main, &jobs[r]) == 0);
  for (int r = 0; r < 2; r++) pthread_join(t[r], NULL);
  printf("\n  expected: %s\n", jobs[0].err.msg);
  for (int r = 0; r < 2; r++) {
    CU_ASSERT_NOT_EQUAL(jobs[r].rc, 0);
  }
  /* The rank that noticed names the cause; the other may report the group's abort instead. */
  CU_ASSERT(strstr(jobs[0].err.msg, "Duplicate GPU") || strstr(jobs[1].err.msg, "Duplicate GPU"));
  dpt_comm_nccl_destroy(g);
}

/* --- the NCCL barrier meets on the device too --- */

typedef struct barrier_job {
  dpt_comm_nccl *group;
  int rank, rc;
  uint64_t nccl_calls; /* the device's NCCL collectives during the barrier */
  dpt_err err;
} barrier_job;

static void *barrier_main(void *p)
{
  barrier_job *j = p;
  dpt_comm comm = dpt_comm_nccl_rank(j->group, j->rank);
  uint64_t before[DPT_EMU_COUNT_KINDS], after[DPT_EMU_COUNT_KINDS];
  j->rc = dpt_comm_nccl_attach(j->group, j->rank, j->rank, &j->err);
  dpt_emu_counts(j->rank, before);
  if (!j->rc) j->rc = dpt_comm_barrier(&comm, &j->err);
  dpt_emu_counts(j->rank, after);
  j->nccl_calls = after[DPT_EMU_NCCL] - before[DPT_EMU_NCCL];
  if (j->rc) dpt_comm_abort(&comm, j->rc, j->err.msg);
  dpt_comm_nccl_detach(j->group, j->rank);
  return NULL;
}

/* Across processes the host barrier meets only a process's own ranks: the barrier must be an NCCL
 * operation (one collective on each rank's device). */
static void test_nccl_barrier_is_a_collective(void)
{
  dpt_comm_nccl *g = NULL;
  dpt_err err = {0};
  CU_ASSERT_EQUAL_FATAL(dpt_comm_nccl_create(2, 30.0, &g, &err), 0);
  barrier_job jobs[2] = {{.group = g, .rank = 0}, {.group = g, .rank = 1}};
  pthread_t t[2];
  for (int r = 0; r < 2; r++)
    CU_ASSERT_FATAL(pthread_create(&t[r], NULL, barrier_main, &jobs[r]) == 0);
  for (int r = 0; r < 2; r++) pthread_join(t[r], NULL);
  for (int r = 0; r < 2; r++) {
    if (jobs[r].rc) printf("\n  rank %d: %s\n", r, jobs[r].err.msg);
    CU_ASSERT_EQUAL(jobs[r].rc, 0);
    CU_ASSERT_EQUAL(jobs[r].nccl_calls, 1);
  }
  dpt_comm_nccl_destroy(g);
}

/* --- a communicator's error found when the next sum is queued names its cause --- */

typedef struct fault_job {
  dpt_comm_nccl *group;
  int rank, rc;
  dpt_err err;
} fault_job;

/* Rank 1's first collective fails (DPT_CUDA_EMU_NCCL_ERROR=1:1). It waits for its device, behind
 * which the sums are queued, so that the failure is on its communicator before it queues the
 * second: NCCL then refuses that call with the communicator's error. Rank 0 waits for its sum. */
static void *fault_rank_main(void *p)
{
  fault_job *j = p;
  dpt_device dev;
  dpt_comm comm = dpt_comm_nccl_rank(j->group, j->rank);
  void *dbuf = NULL;
  j->rc = dpt_device_open(DPT_DEVICE_CUDA, j->rank, 0, &dev, &j->err);
  bool opened = !j->rc;
  if (!j->rc) j->rc = dpt_dev_alloc(&dev, 64 * sizeof(float), &dbuf, &j->err);
  if (!j->rc) j->rc = dpt_dev_zero(&dev, dbuf, 64 * sizeof(float), &j->err);
  if (!j->rc)
    j->rc = dpt_comm_nccl_attach_on(j->group, j->rank, dev.index, dpt_dev_stream(&dev), &j->err);
  if (!j->rc) j->rc = dpt_comm_allreduce_sum_queued(&comm, dbuf, 64, true, &j->err);
  if (!j->rc && j->rank == 1) j->rc = dpt_dev_sync(&dev, &j->err);
  if (!j->rc && j->rank == 1)
    j->rc = dpt_comm_allreduce_sum_queued(&comm, dbuf, 64, true, &j->err);
  if (!j->rc) j->rc = dpt_comm_settle(&comm, &j->err);
  if (j->rc) dpt_comm_abort(&comm, j->rc, j->err.msg);
  dpt_comm_nccl_detach(j->group, j->rank);
  if (opened) {
    dpt_dev_free(&dev, dbuf);
    dpt_device_close(&dev);
  }
  return NULL;
}

/* The child "nccl_error": prints each rank's error; exits 0 when both failed. */
static int queue_after_a_failed_collective(void)
{
  if (setenv("DPT_CUDA_EMU_NCCL_ERROR", "1:1", 1)) return CHILD_SETUP_FAILED;
  dpt_comm_nccl *g = NULL;
  dpt_err err = {0};
  if (dpt_comm_nccl_create(RANKS, 30.0, &g, &err)) return CHILD_SETUP_FAILED;
  fault_job jobs[RANKS] = {{.group = g, .rank = 0}, {.group = g, .rank = 1}};
  pthread_t t[RANKS];
  int started = 0;
  while (started < RANKS && !pthread_create(&t[started], NULL, fault_rank_main, &jobs[started]))
    started++;
  for (int r = 0; r < started; r++) pthread_join(t[r], NULL);
  dpt_comm_nccl_destroy(g);
  if (started < RANKS) return CHILD_SETUP_FAILED;
  for (int r = 0; r < RANKS; r++)
    printf("rank %d: %s: %s\n", r, jobs[r].rc ? "failed" : "ok", jobs[r].err.msg);
  return jobs[0].rc && jobs[1].rc ? CHILD_SURVIVED : CHILD_WRONG_DATA;
}

/* The failing rank's error names it and the emulator's cause, and so does the peer's report of
 * the abort: NCCL's own text for the refused call ("remote process exited or there was a network
 * error") says neither. */
static void test_nccl_error_found_at_the_next_call_names_its_cause(void)
{
  char log[4096];
  int status = run_child("nccl_error", log, sizeof log);
  print_log(log);
  CU_ASSERT_FATAL(WIFEXITED(status) && WEXITSTATUS(status) == CHILD_SURVIVED);
  CU_ASSERT(log_has(log, "rank 1: failed: comm nccl: allreduce: rank 1: "));
  CU_ASSERT(log_has(log, "rank 0: failed: comm nccl: allreduce: comm nccl: allreduce: rank 1: "));
  CU_ASSERT_EQUAL(log_count(log, "DPT_CUDA_EMU_NCCL_ERROR"), 2);
}

/* --- a device is used in its own context --- */

typedef struct elsewhere_job {
  dpt_device *dev;
  int rc;
  dpt_err err;
} elsewhere_job;

/* Pinned memory and a device buffer, allocated and freed from a thread that never chose a device.
 */
static void *alloc_elsewhere(void *p)
{
  elsewhere_job *j = p;
  void *pinned = NULL, *buf = NULL;
  j->rc = dpt_dev_host_alloc(j->dev, 64, &pinned, &j->err);
  if (!j->rc) j->rc = dpt_dev_alloc(j->dev, 64, &buf, &j->err);
  dpt_dev_free(j->dev, buf);
  dpt_dev_host_free(j->dev, pinned);
  return NULL;
}

/* CUDA gives a thread that never called cudaSetDevice device 0: the device's allocations from such
 * a thread must select the device first, or they make a context on device 0. */
static void test_allocations_from_another_thread_stay_on_the_device(void)
{
  dpt_device dev;
  dpt_err err = {0};
  uint64_t before[DPT_EMU_COUNT_KINDS], after[DPT_EMU_COUNT_KINDS];
  CU_ASSERT_EQUAL_FATAL(dpt_device_open(DPT_DEVICE_CUDA, 2, 0, &dev, &err), 0);
  CU_ASSERT_EQUAL_FATAL(dpt_emu_counts(0, before), 0);
  elsewhere_job job = {.dev = &dev};
  pthread_t t;
  CU_ASSERT_FATAL(pthread_create(&t, NULL, alloc_elsewhere, &job) == 0);
  pthread_join(t, NULL);
  CU_ASSERT_EQUAL(job.rc, 0);
  CU_ASSERT_EQUAL_FATAL(dpt_emu_counts(0, after), 0);
  uint64_t made = after[DPT_EMU_IMPLICIT_CONTEXTS] - before[DPT_EMU_IMPLICIT_CONTEXTS];
  if (made) printf("\n  %llu context(s) made on device 0", (unsigned long long)made);
  CU_ASSERT_EQUAL(made, 0);
  dpt_device_close(&dev);
}

/* --- counters --- */

static uint64_t counts_now[DPT_EMU_COUNT_KINDS], counts_before[DPT_EMU_COUNT_KINDS];

/* The change of each counter of device 3 since the last call. */
static void delta(uint64_t out[DPT_EMU_COUNT_KINDS])
{
  CU_ASSERT_EQUAL_FATAL(dpt_emu_counts(3, counts_now), 0);
  for (int k = 0; k < DPT_EMU_COUNT_KINDS; k++) out[k] = counts_now[k] - counts_before[k];
  memcpy(counts_before, counts_now, sizeof counts_now);
}

/* Only the named counter moved, by `by` (and, for copies, its bytes). */
static void expect_only(const uint64_t d[DPT_EMU_COUNT_KINDS], dpt_emu_count_kind kind, uint64_t by,
                        dpt_emu_count_kind also, uint64_t also_by)
{
  for (int k = 0; k < DPT_EMU_COUNT_KINDS; k++) {
    uint64_t want = k == (int)kind ? by : k == (int)also ? also_by : 0;
    if (d[k] != want)
      printf("\n  %s moved by %llu, expected %llu", dpt_emu_count_name((dpt_emu_count_kind)k),
             (unsigned long long)d[k], (unsigned long long)want);
    CU_ASSERT_EQUAL(d[k], want);
  }
}

static void test_counters_count_each_call(void)
{
  uint64_t d[DPT_EMU_COUNT_KINDS];
  dpt_device dev;
  dpt_err err = {0};
  CU_ASSERT_EQUAL(dpt_emu_counts(1 << 20, d), -1);
  CU_ASSERT_EQUAL_FATAL(dpt_device_open(DPT_DEVICE_CUDA, 3, 0, &dev, &err), 0);
  delta(d);
  /* The GEMM below is 512^3, some milliseconds on the stream's thread: long enough that the sync
   * right after it finds it running (a 10^3 one had finished before the first poll, once in CI). */
  enum { N = 512 };
  float host[100] = {0}, *x = NULL, *y = NULL;
  size_t bytes = (size_t)N * N * sizeof(float);
  CU_ASSERT_EQUAL_FATAL(dpt_dev_alloc(&dev, bytes, (void **)&x, &err), 0);
  CU_ASSERT_EQUAL_FATAL(dpt_dev_alloc(&dev, bytes, (void **)&y, &err), 0);
  delta(d);
  expect_only(d, DPT_EMU_ALLOCS, 2, DPT_EMU_ALLOCS, 2);
  CU_ASSERT_EQUAL(dpt_dev_copy_h2d(&dev, x, host, sizeof host, &err), 0);
  delta(d);
  expect_only(d, DPT_EMU_H2D, 1, DPT_EMU_H2D_BYTES, sizeof host);
  CU_ASSERT_EQUAL(dpt_dev_add(&dev, 100, x, y, &err), 0);
  delta(d);
  expect_only(d, DPT_EMU_KERNELS, 1, DPT_EMU_KERNELS, 1);
  CU_ASSERT_EQUAL(dpt_dev_gemm(&dev, false, false, N, N, N, 1.f, x, N, x, N, 0.f, y, N, &err), 0);
  delta(d);
  expect_only(d, DPT_EMU_BLAS, 1, DPT_EMU_BLAS, 1);
  CU_ASSERT_EQUAL(dpt_dev_sync(&dev, &err), 0);
  delta(d);
  expect_only(d, DPT_EMU_HOST_WAITS, 1, DPT_EMU_HOST_WAITS, 1);
  /* A blocking copy: the copy and the wait for it, a polled event, counted only when it was not
   * yet done at the first poll: the stream's thread may finish a 400-byte copy before (1 run in
   * about 10 under load). The sync above, behind a GEMM, is the strict check of the count. */
  CU_ASSERT_EQUAL(dpt_dev_copy_d2h(&dev, host, y, sizeof host, &err), 0);
  delta(d);
  CU_ASSERT_EQUAL(d[DPT_EMU_D2H], 1);
  CU_ASSERT_EQUAL(d[DPT_EMU_D2H_BYTES], sizeof host);
  CU_ASSERT(d[DPT_EMU_HOST_WAITS] <= 1);
  dpt_dev_free(&dev, x);
  dpt_dev_free(&dev, y);
  delta(d);
  /* Each free first waits, bounded, for the device's queued work (cudaFree would wait without a
   * bound): an event polled once, counted only when it was not yet done, which depends on when
   * the stream's thread ran. */
  CU_ASSERT(d[DPT_EMU_HOST_WAITS] <= 2);
  d[DPT_EMU_HOST_WAITS] = 0;
  expect_only(d, DPT_EMU_FREES, 2, DPT_EMU_FREES, 2);
  dpt_device_close(&dev);
}

int dpt_test_register(void)
{
  const char *child = getenv("DPT_TEST_EMU_CHILD");
  if (child) {
    int code = !strcmp(child, "read_device")  ? read_device_memory()
               : !strcmp(child, "unsynced")    ? upload_without_waiting()
               : !strcmp(child, "nccl_error")  ? queue_after_a_failed_collective()
                                               : CHILD_SETUP_FAILED;
    fflush(NULL);
    _exit(code);
  }
  static const dpt_test_case emu[] = {
      DPT_TEST(test_host_read_of_device_pointer_crashes),
      DPT_TEST(test_missing_sync_gives_wrong_data_under_delays),
      DPT_TEST(test_stream_wait_event_orders_streams),
      DPT_TEST(test_nccl_refuses_a_device_twice),
      DPT_TEST(test_nccl_barrier_is_a_collective),
      DPT_TEST(test_nccl_error_found_at_the_next_call_names_its_cause),
      DPT_TEST(test_allocations_from_another_thread_stay_on_the_device),
      DPT_TEST(test_counters_count_each_call),
      DPT_TEST_END};
  return dpt_test_add_suite("cuda_emulator", emu);
}
