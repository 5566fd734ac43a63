/* Threads meeting in synchronized rounds, for timing an operation every thread takes part in
 * (an allreduce, a parameter-server push + pull). A round: every thread prepares (untimed), they
 * meet, each runs the operation, they meet again, each checks (untimed). The round's time runs
 * from the first thread's start of the operation to the last one's end: the collective's wall
 * time, with no untimed work overlapping it. */
#ifndef DPT_BENCH_ROUNDS_H
#define DPT_BENCH_ROUNDS_H

#include "dpt/status.h"

typedef struct bench_rounds_ops {
  int (*prepare)(void *ctx, int rank, dpt_err *err); /* may be NULL */
  int (*op)(void *ctx, int rank, dpt_err *err);
  int (*check)(void *ctx, int rank, dpt_err *err);   /* may be NULL */
  /* Wakes the threads blocked in op once another one failed. */
  void (*abort)(void *ctx, int code, const char *why);
} bench_rounds_ops;

/* Runs `ranks` threads (thread r passes rank r) through warmup + iters rounds; *median_s is the
 * median time of the iters timed rounds. Every wait is bounded by timeout_s. Returns 0 or the
 * first thread's error (the others are woken by ops->abort and the barrier). */
int bench_rounds_run(int ranks, int warmup, int iters, double timeout_s,
                     const bench_rounds_ops *ops, void *ctx, double *median_s, dpt_err *err);

#endif
