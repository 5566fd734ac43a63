/* The project's own seeded RNG (xoshiro256** seeded by splitmix64): the same numbers on every
 * platform, never rand(). State is a plain value so it can be checkpointed. */
#ifndef DPT_RNG_H
#define DPT_RNG_H

#include <stddef.h>
#include <stdint.h>

typedef struct dpt_rng {
  uint64_t s[4];
} dpt_rng;

void dpt_rng_seed(dpt_rng *rng, uint64_t seed);
uint64_t dpt_rng_u64(dpt_rng *rng);
/* Uniform in [0, bound) without modulo bias; bound > 0. */
uint64_t dpt_rng_below(dpt_rng *rng, uint64_t bound);
/* Uniform in [0, 1) with 24 random bits. */
float dpt_rng_uniform(dpt_rng *rng);
/* Standard normal (Box-Muller on doubles). */
float dpt_rng_normal(dpt_rng *rng);
/* Fisher-Yates shuffle of idx[0..n). */
void dpt_rng_shuffle_u32(dpt_rng *rng, uint32_t *idx, size_t n);

#endif
