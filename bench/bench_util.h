/* Small pieces every benchmark shares: medians, timing a call, option values, size sweeps,
 * PASS/BELOW marks. Benchmarks print; these helpers only compute and format. */
#ifndef DPT_BENCH_UTIL_H
#define DPT_BENCH_UTIL_H

#include <stdbool.h>
#include <stddef.h>

/* Median of v[0..n) (n > 0); sorts v in place. */
double bench_median(double *v, int n);

/* Seconds of each of reps calls of fn(ctx), into t[0..reps). */
void bench_time_calls(void (*fn)(void *ctx), void *ctx, double *t, int reps);

/* Median seconds of one call of fn(ctx) over reps timed calls, after warmup untimed ones. */
double bench_time_median(void (*fn)(void *ctx), void *ctx, int warmup, int reps);

/* "1,2,4" -> out[0..n): positive integers only. Returns n, or -1 on a malformed list or more
 * than max entries. */
int bench_parse_int_list(const char *s, int *out, int max);

/* A positive integer option value; -1 when s is not one. */
int bench_parse_positive(const char *s);

/* "4096", "4K", "64M", "1G" (powers of 1024) -> bytes. Returns false when malformed or zero. */
bool bench_parse_bytes(const char *s, size_t *out);

/* "4 KB", "64 MB": buf needs 16 bytes. */
const char *bench_format_bytes(size_t bytes, char *buf, size_t size);

/* Sizes lo, 4*lo, 16*lo, ... up to hi (inclusive), as nccl-tests' -f 4. Returns the count
 * written to out (at most max). */
int bench_size_sweep(size_t lo, size_t hi, size_t *out, int max);

/* The size sweep of the collective benchmarks (bench_comm, bench_comm_mpi, bench_ps). */
typedef struct bench_sweep {
  size_t min_bytes, max_bytes;
  int warmup;    /* untimed rounds per size */
  int min_iters; /* timed rounds per size: enough to move `budget` bytes, within */
  int max_iters; /* [min_iters, max_iters], so small sizes get many samples, large ones stay quick */
  size_t budget;
} bench_sweep;

#define BENCH_SWEEP_DEFAULTS {4u << 10, 64u << 20, 2, 5, 100, 256u << 20}

/* Timed rounds for `bytes`. */
int bench_sweep_iters(const bench_sweep *sw, size_t bytes);

/* "PASS" or "BELOW". */
const char *bench_mark(bool pass);

/* Prints "load average (1 min) <when>: L on C cores" from /proc/loadavg (nothing where it is
 * missing): other work on the machine skews every figure, and this says how much there was. */
void bench_print_load(const char *when);

#endif
