#include "bench/membw.h"

#include <stdlib.h>
#include <string.h>

#include "bench/bench_util.h"

typedef struct copy_ctx {
  void *dst;
  const void *src;
  size_t bytes;
} copy_ctx;

static void copy_fn(void *p)
{
  copy_ctx *c = p;
  memcpy(c->dst, c->src, c->bytes);
}

double membw_memcpy_gbps(size_t bytes, int reps)
{
  char *src = malloc(bytes), *dst = malloc(bytes);
  if (!src || !dst) {
    free(src);
    free(dst);
    return -1.0;
  }
  memset(src, 1, bytes); /* fault the pages in before timing */
  copy_ctx c = {dst, src, bytes};
  double t = bench_time_median(copy_fn, &c, 1, reps);
  free(src);
  free(dst);
  return (double)bytes / t * 1e-9;
}
