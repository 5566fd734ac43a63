#include "tests/lib/synth_data.h"

#include <stdio.h>
#include <stdlib.h>

#include "dpt/data.h"
#include "dpt/rng.h"

static int write_set(const char *dir, const char *prefix, int count, int rows, int cols,
                     int classes, const uint8_t *protos, dpt_rng *rng)
{
  size_t f = (size_t)rows * (size_t)cols;
  uint8_t *img = malloc((size_t)count * f), *lab = malloc((size_t)count);
  int rc = !img || !lab;
  for (int i = 0; i < count && !rc; i++) {
    int c = (int)dpt_rng_below(rng, (uint64_t)classes);
    lab[i] = (uint8_t)c;
    for (size_t j = 0; j < f; j++) {
      int v = protos[(size_t)c * f + j] + (int)(60.f * dpt_rng_normal(rng));
      img[(size_t)i * f + j] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
    }
  }
  char path[4096];
  dpt_err err = {0};
  uint32_t idims[3] = {(uint32_t)count, (uint32_t)rows, (uint32_t)cols};
  uint32_t ldims[1] = {(uint32_t)count};
  if (!rc) {
    snprintf(path, sizeof path, "%s/%s-images-idx3-ubyte.gz", dir, prefix);
    rc = dpt_idx_write(path, 3, idims, img, 1, &err);
  }
  if (!rc) {
    snprintf(path, sizeof path, "%s/%s-labels-idx1-ubyte.gz", dir, prefix);
    rc = dpt_idx_write(path, 1, ldims, lab, 1, &err);
  }
  if (rc && err.code) fprintf(stderr, "synth: %s\n", err.msg);
  free(img);
  free(lab);
  return rc;
}

int dpt_synth_write(const char *dir, int train_count, int test_count, int rows, int cols,
                    int classes, uint64_t seed)
{
  size_t f = (size_t)rows * (size_t)cols;
  uint8_t *protos = malloc((size_t)classes * f);
  if (!protos) return 1;
  dpt_rng rng;
  dpt_rng_seed(&rng, seed);
  for (size_t i = 0; i < (size_t)classes * f; i++) protos[i] = (uint8_t)dpt_rng_below(&rng, 256);
  int rc = write_set(dir, "train", train_count, rows, cols, classes, protos, &rng);
  if (!rc) rc = write_set(dir, "t10k", test_count, rows, cols, classes, protos, &rng);
  free(protos);
  return rc;
}
