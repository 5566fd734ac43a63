/* Private to kernels/: a CPU device's threads for its GEMMs and image ops, split into parts of a
 * range (rows or columns of a GEMM's C, images of an image op). With 1
 * worker on 2 cores, OpenBLAS's own pool ran the GEMMs but left the image ops to one thread, and
 * its second thread spun in sched_yield through them: the CNN trained 1.34x faster on this pool
 * (median of 3 one-epoch runs each, README). The calling thread takes the first part of the range,
 * each helper one more; each part writes only its own outputs, and the parts are the same in every
 * run, so runs repeat bit for bit (a GEMM's bits depend on where it is cut, as they did on
 * OpenBLAS's thread count). Per device, no globals. */
#ifndef DPT_KERNELS_CPU_POOL_H
#define DPT_KERNELS_CPU_POOL_H

#include "dpt/status.h"

typedef struct cpu_pool cpu_pool;

/* The work over rows [r0, r1) of one op. */
typedef void (*cpu_rows_fn)(const void *args, int r0, int r1);

/* threads: the caller and threads - 1 helpers (threads <= 1: none, runs go inline). wait_s
 * bounds a run's wait for its helpers (0: none). *out stays NULL for no helpers. */
int cpu_pool_open(int threads, double wait_s, cpu_pool **out, dpt_err *err);
void cpu_pool_close(cpu_pool *p);

/* fn over [0, rows), split over the pool (NULL: inline), returning when every part is done.
 * A helper that does not finish within wait_s fails the run with DPT_ETIMEOUT and every later
 * one (it may still be writing). */
int cpu_pool_run(cpu_pool *p, cpu_rows_fn fn, const void *args, int rows, dpt_err *err);

/* The parts cpu_pool_run splits a range into: its threads (1 for NULL). */
int cpu_pool_threads(const cpu_pool *p);

/* Helper threads a pool of `threads` starts (for memory estimates). */
int cpu_pool_helpers(int threads);

#endif
