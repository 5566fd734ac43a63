/* Command-line options of the benchmarks, described by a table: "--name VALUE" pairs and flags. */
#ifndef DPT_BENCH_OPTS_H
#define DPT_BENCH_OPTS_H

#include <stdbool.h>
#include <stddef.h>

typedef enum {
  BENCH_OPT_INT,   /* int *: a positive integer */
  BENCH_OPT_LIST,  /* int *[max], *count: "1,2,4" */
  BENCH_OPT_BYTES, /* size_t *: "4K", "64M" */
  BENCH_OPT_STR,   /* const char **: the argument itself */
  BENCH_OPT_FLAG   /* bool *: set, takes no value */
} bench_opt_kind;

typedef struct bench_opt {
  const char *name; /* "--batch" */
  bench_opt_kind kind;
  void *dst;
  int *count; /* BENCH_OPT_LIST: entries parsed */
  int max;    /* BENCH_OPT_LIST: capacity of dst */
} bench_opt;

/* Table entries. */
#define BENCH_INT(name, p) {(name), BENCH_OPT_INT, (p), NULL, 0}
#define BENCH_LIST(name, p, count, max) {(name), BENCH_OPT_LIST, (p), (count), (max)}
#define BENCH_BYTES(name, p) {(name), BENCH_OPT_BYTES, (p), NULL, 0}
#define BENCH_STR(name, p) {(name), BENCH_OPT_STR, (p), NULL, 0}
#define BENCH_FLAG(name, p) {(name), BENCH_OPT_FLAG, (p), NULL, 0}

/* The options of a bench_sweep (bench_util.h). */
#define BENCH_SWEEP_OPTS(sw)                                                                      \
  BENCH_BYTES("--min-bytes", &(sw)->min_bytes), BENCH_BYTES("--max-bytes", &(sw)->max_bytes),      \
      BENCH_INT("--warmup", &(sw)->warmup), BENCH_INT("--min-iters", &(sw)->min_iters),          \
      BENCH_INT("--max-iters", &(sw)->max_iters), BENCH_BYTES("--budget", &(sw)->budget)
#define BENCH_SWEEP_USAGE                                                                         \
  "[--min-bytes 4K] [--max-bytes 64M] [--warmup 2] [--min-iters 5] [--max-iters 100] "            \
  "[--budget 256M]"

/* Parses argv[1..argc) against opts[0..n). On an unknown option or a bad value prints
 * "<prog>: <why>" and `usage` to stderr and returns false. */
bool bench_parse_opts(int argc, char **argv, const bench_opt *opts, int n, const char *usage);

#endif
