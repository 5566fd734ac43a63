#include "tests/lib/gradcheck.h"

#include <math.h>
#include <stdio.h>

size_t dpt_test_gradcheck(float *params, size_t first, size_t last, const float *grads, float eps,
                          dpt_test_loss_fn loss, void *ctx, size_t *skipped)
{
  size_t bad = 0;
  uint64_t base, up_pat, down_pat;
  *skipped = 0;
  loss(ctx, &base);
  for (size_t i = first; i < last; i++) {
    float saved = params[i];
    params[i] = saved + eps;
    double up = loss(ctx, &up_pat);
    params[i] = saved - eps;
    double down = loss(ctx, &down_pat);
    params[i] = saved;
    if (up_pat != base || down_pat != base) {
      (*skipped)++;
      continue;
    }
    double numeric = (up - down) / (2.0 * eps);
    if (fabs(numeric - grads[i]) > 2e-3 + 2e-2 * fabs(numeric)) {
      fprintf(stderr, "\n  param %zu: numeric %.6g backward %.6g", i, numeric, (double)grads[i]);
      bad++;
    }
  }
  return bad;
}
