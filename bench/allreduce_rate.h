/* The in-process allreduce (dpt_comm_threads_*: one thread per rank over shared memory) timed in
 * synchronized rounds on exactly checkable data. */
#ifndef DPT_BENCH_ALLREDUCE_RATE_H
#define DPT_BENCH_ALLREDUCE_RATE_H

#include <stddef.h>

#include "bench/comm_table.h"
#include "dpt/status.h"

/* One row: an in-place allreduce of bytes / 4 floats over `ranks` threads, warmup untimed rounds
 * then iters timed ones, every round refilled and checked (#wrong sums over ranks and rounds). */
int allreduce_measure(int ranks, size_t bytes, int warmup, int iters, double timeout_s,
                      comm_row *out, dpt_err *err);

#endif
