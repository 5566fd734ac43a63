#include "dpt/rng.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x)
{
  uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

void dpt_rng_seed(dpt_rng *rng, uint64_t seed)
{
  for (int i = 0; i < 4; i++) rng->s[i] = splitmix64(&seed);
}

uint64_t dpt_rng_u64(dpt_rng *rng)
{
  uint64_t *s = rng->s;
  uint64_t result = rotl(s[1] * 5, 7) * 9;
  uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}

uint64_t dpt_rng_below(dpt_rng *rng, uint64_t bound)
{
  /* Rejection sampling: drop the top partial range so every value is equally likely. */
  uint64_t limit = UINT64_MAX - UINT64_MAX % bound;
  uint64_t x;
  do x = dpt_rng_u64(rng);
  while (x >= limit);
  return x % bound;
}

float dpt_rng_uniform(dpt_rng *rng) { return (float)(dpt_rng_u64(rng) >> 40) * 0x1.0p-24f; }

float dpt_rng_normal(dpt_rng *rng)
{
  /* u1 in (0, 1] so log() is finite. */
  double u1 = ((double)(dpt_rng_u64(rng) >> 11) + 1.0) * 0x1.0p-53;
  double u2 = (double)(dpt_rng_u64(rng) >> 11) * 0x1.0p-53;
  return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

void dpt_rng_shuffle_u32(dpt_rng *rng, uint32_t *idx, size_t n)
{
  for (size_t i = n; i > 1; i--) {
    size_t j = (size_t)dpt_rng_below(rng, i);
    uint32_t t = idx[i - 1];
    idx[i - 1] = idx[j];
    idx[j] = t;
  }
}
