/* The machine's memory bandwidth as one thread's large memcpy sees it: the byte ceiling of
 * DESIGN.md's "Performance method" for collectives over shared memory. */
#ifndef DPT_BENCH_MEMBW_H
#define DPT_BENCH_MEMBW_H

#include <stddef.h>

/* Well beyond any cache of the machines this runs on. */
#define MEMBW_DEFAULT_BYTES ((size_t)128 << 20)

/* Bytes copied per second (GB/s, 1e9) by memcpy of `bytes`, median of reps after one warm-up
 * copy. Negative when out of memory. */
double membw_memcpy_gbps(size_t bytes, int reps);

#endif
