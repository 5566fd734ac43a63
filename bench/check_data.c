#include "bench/check_data.h"

enum { PERIOD = 16 };

/* In [0, 16): sums over up to 2^20 ranks stay far below 2^24, where floats stop being exact. */
static float value(size_t i, int rank)
{
  return (float)((i * 7 + (size_t)rank * 5) % PERIOD);
}

void check_data_fill(float *buf, size_t n, int rank)
{
  for (size_t i = 0; i < n; i++) buf[i] = value(i, rank);
}

size_t check_data_wrong(const float *buf, size_t n, int ranks)
{
  /* value() repeats every PERIOD elements, so the expected sums do too: checking stays a pass
   * over memory even for 64 MB on 4 ranks. */
  float want[PERIOD] = {0};
  for (size_t i = 0; i < PERIOD; i++)
    for (int r = 0; r < ranks; r++) want[i] += value(i, r);
  size_t wrong = 0;
  for (size_t i = 0; i < n; i++) wrong += buf[i] != want[i % PERIOD];
  return wrong;
}
