/* host/comm/comm_nccl.c and host/comm/comm_group.c without a GPU: what runs before any device is touched.
 * With NCCL in the build: a group is made (ncclGetUniqueId needs no GPU), an abort or a failed
 * attach stops every rank without a hang, and the allreduce strategy picks NCCL for CUDA devices
 * and refuses a CPU device. Without NCCL: allreduce on CUDA is refused as the user's mistake.
 * The collectives themselves need GPUs: tests/test_cuda_sync.c. */
#include <stdio.h>
#include <string.h>

#include "dpt/sync.h"
#include "host/comm/comm_nccl.h"
#include "tests/lib/test_util.h"

/* 1 when the build has NCCL (set by host/CMakeLists.txt): which suite applies here. */
static const int built_with_nccl = DPT_TEST_HAVE_NCCL;

static dpt_comm_nccl *make_group(int size)
{
  dpt_comm_nccl *g = NULL;
  dpt_err err = {0};
  int rc = dpt_comm_nccl_create(size, 5.0, &g, &err);
  if (rc) printf("\n  %s\n", err.msg);
  CU_ASSERT_EQUAL_FATAL(rc, 0);
  return g;
}

static void test_group_without_gpu(void)
{
  dpt_comm_nccl *g = NULL;
  dpt_err err = {0};
  CU_ASSERT_EQUAL(dpt_comm_nccl_create(0, 5.0, &g, &err), DPT_EINPUT);
  g = make_group(3);
  dpt_comm c = dpt_comm_nccl_rank(g, 2);
  CU_ASSERT_EQUAL(c.rank, 2);
  CU_ASSERT_EQUAL(c.size, 3);
  /* Each rank sends and receives 2(size-1)/size of the buffer, as the in-process ring. */
  CU_ASSERT_EQUAL(dpt_comm_allreduce_bytes(&c, 300), 2 * 2 * 300 * sizeof(float) / 3);
  dpt_comm_nccl_destroy(g);
}

/* Process 1's share of a group over 3 processes of 2 ranks (the id process 0 would broadcast):
 * the handles count every process's ranks; the ranks outside the group are refused. */
static void test_span_counts_every_process(void)
{
  unsigned char id[DPT_COMM_NCCL_ID_BYTES];
  dpt_comm_nccl *g = NULL;
  dpt_err err = {0};
  CU_ASSERT_EQUAL_FATAL(dpt_comm_nccl_make_id(id, &err), 0);
  CU_ASSERT_EQUAL(dpt_comm_nccl_create_span(2, 5, 6, id, 5.0, &g, &err), DPT_EINTERNAL);
  CU_ASSERT_PTR_NULL(g);
  CU_ASSERT_EQUAL_FATAL(dpt_comm_nccl_create_span(2, 2, 6, id, 5.0, &g, &err), 0);
  dpt_comm c = dpt_comm_nccl_rank(g, 1);
  CU_ASSERT_EQUAL(c.rank, 3);
  CU_ASSERT_EQUAL(c.size, 6);
  CU_ASSERT_EQUAL(dpt_comm_allreduce_bytes(&c, 600), 2 * 5 * 600 * sizeof(float) / 6);
  dpt_comm_nccl_destroy(g);
}

/* An abort before any rank attached reaches every later call, which fails at once. */
static void test_abort_before_attach_stops_every_rank(void)
{
  dpt_comm_nccl *g = make_group(2);
  dpt_comm r0 = dpt_comm_nccl_rank(g, 0), r1 = dpt_comm_nccl_rank(g, 1);
  dpt_comm_abort(&r1, DPT_EDEVICE, "worker 1: injected failure");
  dpt_err err = {0};
  CU_ASSERT_EQUAL(dpt_comm_nccl_attach(g, 0, 0, &err), DPT_EDEVICE);
  CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "injected failure"));
  dpt_err_clear(&err);
  float x = 1.f;
  CU_ASSERT_EQUAL(dpt_comm_allreduce_sum(&r0, &x, 1, &err), DPT_EDEVICE);
  dpt_err_clear(&err);
  CU_ASSERT_EQUAL(dpt_comm_barrier(&r1, &err), DPT_EDEVICE);
  dpt_comm_nccl_detach(g, 0);
  dpt_comm_nccl_destroy(g);
}

/* A rank whose device cannot be selected fails with the CUDA runtime's reason and stops the
 * group, so a peer's attach returns instead of waiting in NCCL's init for it. The ordinal is
 * invalid on any machine, GPU or not. */
static void test_failed_attach_stops_the_group(void)
{
  dpt_comm_nccl *g = make_group(2);
  dpt_err err = {0};
  CU_ASSERT_EQUAL(dpt_comm_nccl_attach(g, 1, 1 << 20, &err), DPT_EDEVICE);
  printf("\n  expected: %s\n", err.msg);
  CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "cudaSetDevice"));
  dpt_err peer = {0};
  CU_ASSERT_EQUAL(dpt_comm_nccl_attach(g, 0, 0, &peer), DPT_EDEVICE);
  CU_ASSERT_PTR_NOT_NULL(strstr(peer.msg, "cudaSetDevice"));
  CU_ASSERT_EQUAL(dpt_comm_nccl_attach(g, 5, 0, &peer), DPT_EINTERNAL);
  dpt_comm_nccl_detach(g, 0);
  dpt_comm_nccl_detach(g, 1);
  dpt_comm_nccl_destroy(g);
}

static dpt_sync_config allreduce_on(dpt_device_kind kind, const float *init, size_t n)
{
  return (dpt_sync_config){.strategy = DPT_STRATEGY_ALLREDUCE, .device = kind, .n_workers = 2,
                           .n_params = n, .momentum = 0.9f, .timeout_s = 5.0,
                           .init_params = init};
}

/* The strategy makes an NCCL group for CUDA devices; a CPU device cannot join it. */
static void test_allreduce_strategy_picks_nccl_for_cuda(void)
{
  float init[8] = {0};
  dpt_sync_config cfg = allreduce_on(DPT_DEVICE_CUDA, init, 8);
  dpt_sync s;
  dpt_err err = {0};
  CU_ASSERT_EQUAL_FATAL(dpt_sync_create(&cfg, &s, &err), 0);
  CU_ASSERT_EQUAL(dpt_sync_bytes_per_step(&s), 2 * 1 * 8 * sizeof(float) / 2);
  dpt_device cpu;
  CU_ASSERT_EQUAL_FATAL(dpt_device_open(DPT_DEVICE_CPU, 0, 1, &cpu, &err), 0);
  float *grads = NULL;
  CU_ASSERT_EQUAL(dpt_sync_attach(&s, 0, &cpu, init, &grads, &err), DPT_EINTERNAL);
  CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "runs on cpu, the group on cuda"));
  dpt_device_close(&cpu);
  dpt_sync_abort(&s, DPT_EINTERNAL, "test over");
  dpt_sync_destroy(&s);
}

/* Without NCCL, allreduce on CUDA devices is refused with the fix in the message. */
static void test_allreduce_on_cuda_needs_nccl(void)
{
  dpt_comm_nccl *g = NULL;
  dpt_err err = {0};
  CU_ASSERT_EQUAL(dpt_comm_nccl_create(2, 5.0, &g, &err), DPT_EINPUT);
  CU_ASSERT_PTR_NULL(g);
  float init[8] = {0};
  dpt_sync_config cfg = allreduce_on(DPT_DEVICE_CUDA, init, 8);
  dpt_sync s;
  dpt_err_clear(&err);
  CU_ASSERT_EQUAL(dpt_sync_create(&cfg, &s, &err), DPT_EINPUT);
  printf("\n  expected: %s\n", err.msg);
  CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "allreduce on cuda: this build has no NCCL"));
  /* CPU devices do not need it. */
  cfg.device = DPT_DEVICE_CPU;
  CU_ASSERT_EQUAL_FATAL(dpt_sync_create(&cfg, &s, &err), 0);
  dpt_sync_destroy(&s);
}

int dpt_test_register(void)
{
  static const dpt_test_case with_nccl[] = {
      DPT_TEST(test_group_without_gpu), DPT_TEST(test_span_counts_every_process),
      DPT_TEST(test_abort_before_attach_stops_every_rank),
      DPT_TEST(test_failed_attach_stops_the_group),
      DPT_TEST(test_allreduce_strategy_picks_nccl_for_cuda), DPT_TEST_END};
  static const dpt_test_case without_nccl[] = {DPT_TEST(test_allreduce_on_cuda_needs_nccl),
                                               DPT_TEST_END};
  int rc = dpt_test_add_suite("comm_nccl", with_nccl);
  if (!rc) rc = dpt_test_add_suite("comm_nccl_not_built", without_nccl);
  if (rc) return rc;
  CU_set_suite_active(CU_get_suite(built_with_nccl ? "comm_nccl_not_built" : "comm_nccl"),
                      CU_FALSE);
  return CUE_SUCCESS;
}
