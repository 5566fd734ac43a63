/* Exactly checkable allreduce data (nccl-tests' idea): every rank contributes small integers, so
 * every partial sum is exact in float whatever the order, and a result either matches or is wrong. */
#ifndef DPT_BENCH_CHECK_DATA_H
#define DPT_BENCH_CHECK_DATA_H

#include <stddef.h>

/* buf[i] = rank's contribution to element i. */
void check_data_fill(float *buf, size_t n, int rank);

/* Elements of buf that differ from the sum over `ranks` ranks of check_data_fill. */
size_t check_data_wrong(const float *buf, size_t n, int ranks);

#endif
