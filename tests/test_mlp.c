/* The model on the CPU backend: finite-difference checks of every layer's gradient and of the
 * loss, the parameter layout, and initialization. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dpt/mlp.h"
#include "dpt/rng.h"
#include "tests/lib/gradcheck.h"
#include "tests/lib/test_util.h"

typedef struct fixture {
  dpt_device dev;
  dpt_mlp_shape shape;
  dpt_mlp_replica rep;
  float *grads; /* on dev: the backward pass's output */
  int rows;
  float *x;
  int32_t *y;
} fixture;

static void fixture_open(fixture *f, const int *hidden, int n_hidden, int features, int classes,
                         int rows)
{
  dpt_err err = {0};
  CU_ASSERT_FATAL(dpt_device_open(DPT_DEVICE_CPU, 0, 1, &f->dev, &err) == 0);
  CU_ASSERT_FATAL(dpt_mlp_shape_make(features, hidden, n_hidden, classes, &f->shape, &err) == 0);
  size_t n = dpt_mlp_param_count(&f->shape);
  float *params = malloc(n * sizeof(float));
  dpt_mlp_init_params(&f->shape, 11, params);
  /* Non-zero biases so their gradients are exercised through the ReLUs too. */
  dpt_rng rng;
  dpt_rng_seed(&rng, 5);
  for (int l = 1; l <= f->shape.n_layers; l++)
    for (int i = 0; i < f->shape.sizes[l]; i++)
      params[dpt_mlp_bias_offset(&f->shape, l) + (size_t)i] = 0.1f * dpt_rng_normal(&rng);
  CU_ASSERT_FATAL(dpt_mlp_replica_create(&f->dev, &f->shape, rows, params, &f->rep, &err) == 0);
  CU_ASSERT_FATAL(dpt_dev_alloc(&f->dev, n * sizeof(float), (void **)&f->grads, &err) == 0);
  free(params);
  f->rows = rows;
  f->x = malloc((size_t)rows * (size_t)features * sizeof(float));
  f->y = malloc((size_t)rows * sizeof(int32_t));
  for (int i = 0; i < rows * features; i++) f->x[i] = dpt_rng_normal(&rng);
  for (int i = 0; i < rows; i++) f->y[i] = (int32_t)dpt_rng_below(&rng, (uint64_t)classes);
  CU_ASSERT_FATAL(dpt_mlp_load_rows(&f->rep, rows, f->x, f->y, &err) == 0);
}

static void fixture_close(fixture *f)
{
  dpt_mlp_replica_destroy(&f->rep);
  dpt_dev_free(&f->dev, f->grads);
  dpt_device_close(&f->dev);
  free(f->x);
  free(f->y);
}

/* The summed loss, and a hash of which hidden units are active (ReLU on) for every row. */
static double loss_at(fixture *f, uint64_t *pattern)
{
  dpt_mlp_pass pass;
  dpt_err err = {0};
  CU_ASSERT_FATAL(dpt_mlp_forward(&f->rep, f->rows, &pass, &err) == 0);
  uint64_t h = 1469598103934665603ULL;
  for (int l = 1; l < f->shape.n_layers; l++)
    for (int i = 0; i < f->rows * f->shape.sizes[l]; i++) h = (h ^ (f->rep.acts[l][i] > 0.f)) * 1099511628211ULL;
  *pattern = h;
  return pass.loss_sum;
}

static double loss_of(void *ctx, uint64_t *pattern) { return loss_at(ctx, pattern); }

/* Central differences of the summed loss for every parameter of layer l (weights and bias),
 * against the backward pass's gradient. Returns the number of mismatches. A perturbation that
 * switches a ReLU on or off measures the kink, not the gradient: those parameters are skipped,
 * and there must be few of them. */
static size_t check_layer(fixture *f, const float *grads, int l)
{
  const dpt_mlp_shape *s = &f->shape;
  size_t first = dpt_mlp_weight_offset(s, l);
  size_t last = dpt_mlp_bias_offset(s, l) + (size_t)s->sizes[l];
  size_t skipped; /* eps 1e-3: small enough to rarely cross a ReLU kink */
  size_t bad = dpt_test_gradcheck(f->rep.params, first, last, grads, 1e-3f, loss_of, f, &skipped);
  CU_ASSERT(skipped * 10 <= last - first);
  return bad;
}

static void check_all_layers(const int *hidden, int n_hidden)
{
  fixture f;
  fixture_open(&f, hidden, n_hidden, 7, 4, 5);
  dpt_mlp_pass pass;
  dpt_err err = {0};
  CU_ASSERT_FATAL(dpt_mlp_forward_backward(&f.rep, f.rows, 1.f, f.grads, &pass, &err) == 0);
  uint64_t pattern;
  CU_ASSERT(fabs(pass.loss_sum - loss_at(&f, &pattern)) < 1e-5 * fabs(pass.loss_sum));
  size_t n = f.rep.n_params;
  float *grads = malloc(n * sizeof(float));
  memcpy(grads, f.grads, n * sizeof(float)); /* CPU backend: device memory is host memory */
  for (int l = 1; l <= f.shape.n_layers; l++) CU_ASSERT_EQUAL(check_layer(&f, grads, l), 0);
  free(grads);
  fixture_close(&f);
}

static void test_gradcheck_loss_only(void) { check_all_layers(NULL, 0); }

static void test_gradcheck_one_hidden(void)
{
  int hidden[] = {6};
  check_all_layers(hidden, 1);
}

static void test_gradcheck_three_hidden(void)
{
  int hidden[] = {9, 5, 8}; /* has a unit within 1e-5 of its kink: exercises the skip */
  check_all_layers(hidden, 3);
}

static void test_grad_scale_and_zero_rows(void)
{
  int hidden[] = {6};
  fixture f;
  fixture_open(&f, hidden, 1, 7, 4, 5);
  dpt_mlp_pass pass;
  dpt_err err = {0};
  size_t n = f.rep.n_params;
  float *g1 = malloc(n * sizeof(float));
  CU_ASSERT_FATAL(dpt_mlp_forward_backward(&f.rep, f.rows, 1.f, f.grads, &pass, &err) == 0);
  memcpy(g1, f.grads, n * sizeof(float));
  CU_ASSERT_FATAL(dpt_mlp_forward_backward(&f.rep, f.rows, 0.25f, f.grads, &pass, &err) == 0);
  size_t bad = 0;
  for (size_t i = 0; i < n; i++) bad += fabsf(f.grads[i] - 0.25f * g1[i]) > 1e-6f + 1e-5f * fabsf(g1[i]);
  CU_ASSERT_EQUAL(bad, 0);
  CU_ASSERT_FATAL(dpt_mlp_forward_backward(&f.rep, 0, 1.f, f.grads, &pass, &err) == 0);
  bad = 0;
  for (size_t i = 0; i < n; i++) bad += f.grads[i] != 0.f;
  CU_ASSERT_EQUAL(bad, 0);
  CU_ASSERT_EQUAL(pass.loss_sum, 0.0);
  free(g1);
  fixture_close(&f);
}

static void test_layout_and_flops(void)
{
  int hidden[] = {512, 512};
  dpt_mlp_shape s;
  dpt_err err = {0};
  CU_ASSERT_FATAL(dpt_mlp_shape_make(784, hidden, 2, 10, &s, &err) == 0);
  CU_ASSERT_EQUAL(dpt_mlp_param_count(&s), 784 * 512 + 512 + 512 * 512 + 512 + 512 * 10 + 10);
  CU_ASSERT_EQUAL(dpt_mlp_bias_offset(&s, 1), 784 * 512);
  CU_ASSERT_EQUAL(dpt_mlp_weight_offset(&s, 2), 784 * 512 + 512);
  CU_ASSERT_DOUBLE_EQUAL(dpt_mlp_flops_per_sample(&s), 2.0 * (784 * 512 + 512 * 512 + 5120), 0.5);
  int zero[] = {0};
  CU_ASSERT_EQUAL(dpt_mlp_shape_make(784, zero, 1, 10, &s, &err), DPT_EINPUT);
  CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "--hidden"));
}

static void test_he_init_statistics(void)
{
  int hidden[] = {256};
  dpt_mlp_shape s;
  dpt_err err = {0};
  CU_ASSERT_FATAL(dpt_mlp_shape_make(400, hidden, 1, 10, &s, &err) == 0);
  size_t n = dpt_mlp_param_count(&s);
  float *p = malloc(n * sizeof(float)), *q = malloc(n * sizeof(float));
  dpt_mlp_init_params(&s, 3, p);
  dpt_mlp_init_params(&s, 3, q);
  CU_ASSERT_EQUAL(memcmp(p, q, n * sizeof(float)), 0);
  double s2 = 0;
  for (size_t i = 0; i < 400 * 256; i++) s2 += (double)p[i] * p[i];
  double var = s2 / (400 * 256);
  CU_ASSERT(fabs(var - 2.0 / 400) < 0.05 * (2.0 / 400));
  for (int i = 0; i < 256; i++) CU_ASSERT_EQUAL(p[dpt_mlp_bias_offset(&s, 1) + (size_t)i], 0.f);
  free(p);
  free(q);
}

int dpt_test_register(void)
{
  static const dpt_test_case grad[] = {
    DPT_TEST(test_gradcheck_loss_only), DPT_TEST(test_gradcheck_one_hidden),
    DPT_TEST(test_gradcheck_three_hidden), DPT_TEST(test_grad_scale_and_zero_rows), DPT_TEST_END};
  static const dpt_test_case shape[] = {DPT_TEST(test_layout_and_flops),
                                        DPT_TEST(test_he_init_statistics), DPT_TEST_END};
  int rc = dpt_test_add_suite("mlp_gradients", grad);
  return rc ? rc : dpt_test_add_suite("mlp_shape", shape);
}
