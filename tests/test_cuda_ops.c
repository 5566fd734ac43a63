/* The CUDA device's own behaviour: memory (pinned, device to device, zeroing) and how its errors
 * are reported. Every op's results against the CPU backend are test_ops.c's table. Where dpt_cuda_device_count finds no device (or the build has no CUDA) the suites are inactive,
 * so the program reports them as not run and exits 77: skipped, never passed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dpt/device.h"
#include "tests/lib/cuda_present.h"
#include "tests/lib/test_util.h"

typedef struct pair {
  dpt_device cpu, gpu;
  dpt_err err;
} pair;

static void open_pair(pair *p)
{
  memset(p, 0, sizeof *p);
  int rc = dpt_device_open(DPT_DEVICE_CPU, 0, 1, &p->cpu, &p->err);
  if (!rc) rc = dpt_device_open(DPT_DEVICE_CUDA, 0, 0, &p->gpu, &p->err);
  if (rc) printf("\n  %s\n", p->err.msg);
  CU_ASSERT_EQUAL_FATAL(rc, 0);
}

static void close_pair(pair *p)
{
  dpt_device_close(&p->gpu);
  dpt_device_close(&p->cpu);
}

/* A device copy of bytes of host data (NULL data: uninitialized). */
static void *upload(pair *p, const void *data, size_t bytes)
{
  void *dev = NULL;
  CU_ASSERT_EQUAL_FATAL(dpt_dev_alloc(&p->gpu, bytes ? bytes : 1, &dev, &p->err), 0);
  if (data) CU_ASSERT_EQUAL_FATAL(dpt_dev_copy_h2d(&p->gpu, dev, data, bytes, &p->err), 0);
  return dev;
}

/* Copies back and frees the device buffer. */
static void download(pair *p, void *host, void *dev, size_t bytes)
{
  CU_ASSERT_EQUAL(dpt_dev_copy_d2h(&p->gpu, host, dev, bytes, &p->err), 0);
  dpt_dev_free(&p->gpu, dev);
}

/* --- memory and errors ------------------------------------------------------------------------ */

static void test_memory_round_trip(void)
{
  pair p;
  open_pair(&p);
  enum { N = 1000 };
  float *pinned = NULL;
  CU_ASSERT_EQUAL_FATAL(dpt_dev_host_alloc(&p.gpu, N * sizeof(float), (void **)&pinned, &p.err), 0);
  for (int i = 0; i < N; i++) pinned[i] = (float)i;
  float *a = upload(&p, pinned, N * sizeof(float)), *b = upload(&p, NULL, N * sizeof(float));
  CU_ASSERT_EQUAL(dpt_dev_copy_d2d(&p.gpu, b, a, N * sizeof(float), &p.err), 0);
  CU_ASSERT_EQUAL(dpt_dev_zero(&p.gpu, a, N * sizeof(float), &p.err), 0);
  CU_ASSERT_EQUAL(dpt_dev_sync(&p.gpu, &p.err), 0);
  memset(pinned, 0xff, N * sizeof(float));
  download(&p, pinned, b, N * sizeof(float));
  size_t bad = 0;
  for (int i = 0; i < N; i++) bad += pinned[i] != (float)i;
  download(&p, pinned, a, N * sizeof(float));
  for (int i = 0; i < N; i++) bad += pinned[i] != 0.f;
  CU_ASSERT_EQUAL(bad, 0);
  dpt_dev_host_free(&p.gpu, pinned);
  close_pair(&p);
}

static void test_errors_are_reported(void)
{
  pair p;
  open_pair(&p);
  float *a = upload(&p, NULL, 64 * sizeof(float));
  dpt_err err = {0};
  CU_ASSERT_EQUAL(dpt_dev_gemm(&p.gpu, false, false, 2, 3, 4, 1.f, a, 3, a, 3, 0.f, a, 3, &err),
                  DPT_EINTERNAL);
  CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "cuda gemm: leading dimension of A is 3"));
  dpt_err_clear(&err);
  void *huge = NULL;
  CU_ASSERT_EQUAL(dpt_dev_alloc(&p.gpu, (size_t)1 << 60, &huge, &err), DPT_EDEVICE);
  printf("\n  expected: %s\n", err.msg);
  CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "cudaMalloc"));
  dpt_err_clear(&err);
  /* The failed allocation left the device usable. */
  CU_ASSERT_EQUAL(dpt_dev_zero(&p.gpu, a, 64 * sizeof(float), &err), 0);
  CU_ASSERT_EQUAL(dpt_dev_sync(&p.gpu, &err), 0);
  dpt_device d;
  CU_ASSERT_EQUAL(dpt_device_open(DPT_DEVICE_CUDA, 1 << 20, 0, &d, &err), DPT_EINPUT);
  dpt_dev_free(&p.gpu, a);
  close_pair(&p);
}

int dpt_test_register(void)
{
  static const dpt_test_case device[] = {DPT_TEST(test_memory_round_trip),
                                         DPT_TEST(test_errors_are_reported), DPT_TEST_END};
  static const char *const suites[] = {"cuda_device"};
  int rc = dpt_test_add_suite(suites[0], device);
  if (rc) return rc;

  dpt_test_cuda_devices("test_cuda_ops", suites, sizeof suites / sizeof suites[0]);
  return CUE_SUCCESS;
}
