/* dpt_data_standardize: every feature shifted and scaled by the training set's mean and
 * population standard deviation, in a fixed order so that a run is reproducible. */
#include "dpt/data.h"

#include <math.h>

/* Features are handled in blocks so that the statistics live on the stack (the function cannot
 * fail) while each pass still reads every row in contiguous runs. */
#define BLOCK 256

static void apply(dpt_dataset *ds, size_t first, size_t n, const double *mean, const double *std)
{
  for (size_t i = 0; i < ds->count; i++) {
    float *row = ds->x + i * ds->features + first;
    for (size_t j = 0; j < n; j++) row[j] = (float)((row[j] - mean[j]) / std[j]);
  }
}

static void standardize_block(dpt_dataset *train, dpt_dataset *test, size_t first, size_t n)
{
  double mean[BLOCK] = {0}, std[BLOCK] = {0};
  const size_t count = train->count;
  for (size_t i = 0; i < count; i++) {
    const float *row = train->x + i * train->features + first;
    for (size_t j = 0; j < n; j++) mean[j] += row[j];
  }
  for (size_t j = 0; j < n; j++) mean[j] /= (double)count;
  /* Second pass over the deviations: no cancellation, unlike sum of squares minus squared sum. */
  for (size_t i = 0; i < count; i++) {
    const float *row = train->x + i * train->features + first;
    for (size_t j = 0; j < n; j++) {
      double d = row[j] - mean[j];
      std[j] += d * d;
    }
  }
  for (size_t j = 0; j < n; j++) {
    std[j] = sqrt(std[j] / (double)count);
    if (std[j] == 0) std[j] = 1; /* a constant feature (e.g. an always-black corner) is centred */
  }
  apply(train, first, n, mean, std);
  if (test) apply(test, first, n, mean, std);
}

/* test may be NULL; otherwise it has train's feature count (dpt_data_load_dir checks shapes). */
void dpt_data_standardize(dpt_dataset *train, dpt_dataset *test)
{
  if (train->count == 0) return;
  for (size_t first = 0; first < train->features; first += BLOCK) {
    size_t n = train->features - first < BLOCK ? train->features - first : BLOCK;
    standardize_block(train, test, first, n);
  }
}
