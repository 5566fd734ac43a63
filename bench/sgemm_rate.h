/* The OpenBLAS sgemm rate on the GEMMs one training step of the MLP really runs (on N threads:
 * the faster of OpenBLAS's threads and a CPU device's pool, per call or per whole step), and the
 * ceiling on training samples/s that rate implies: a step cannot take less than its GEMMs.
 * (The FLOP ceiling of DESIGN.md's "Performance method".) */
#ifndef DPT_BENCH_SGEMM_RATE_H
#define DPT_BENCH_SGEMM_RATE_H

#include <stdbool.h>

#include "dpt/mlp.h"

/* One cblas_sgemm call (row-major, alpha 1, beta 0) with its operands bound. */
typedef struct sgemm_call {
  const char *phase; /* "fwd", "dW" or "dX" */
  int layer;         /* 1-based linear layer */
  bool ta, tb;
  int m, n, k;
  const float *a, *b;
  float *c;
  int lda, ldb, ldc;
} sgemm_call;

/* The GEMMs of one forward + backward on `rows` samples, in the order and with the transposes of
 * host/model/mlp_replica.c, over buffers laid out like a replica's (activations, weights, deltas). */
typedef struct sgemm_step {
  int n_calls;
  sgemm_call calls[3 * DPT_MAX_LAYERS];
  int rows;
  float *arena;
} sgemm_step;

/* Returns false when out of memory. */
bool sgemm_step_create(const dpt_mlp_shape *s, int rows, sgemm_step *out);
void sgemm_step_destroy(sgemm_step *st);

double sgemm_call_flops(const sgemm_call *c); /* 2 m n k */
double sgemm_step_flops(const sgemm_step *st);

/* Median seconds over reps of one call on `threads` threads: the faster of OpenBLAS's own threads
 * (openblas_set_num_threads, which is process-wide) and a CPU device's pool, which cuts it by rows
 * over one-thread OpenBLAS calls as the trainer does. */
double sgemm_call_time(const sgemm_call *c, int threads, int reps);

/* GFLOP/s of an n x n x n sgemm: the reference peak. Negative when out of memory. */
double sgemm_square_gflops(int n, int threads, int reps);

/* BLAS threads per worker as host/train/trainer.c sets them on the CPU path: one worker gets every
 * core, several get one each (no oversubscription). */
int sgemm_trainer_threads(int workers, int cores);

/* The sgemm ceiling of a training configuration on the CPU path: the global batch split over
 * `workers` (rows = ceil(batch / workers) per worker), `threads` BLAS threads per worker, and
 * min(workers, cores) workers computing at once:
 *   samples/s <= min(workers, cores) * (batch / workers) / t_step(rows, threads).
 * Measured by a probe whose samples can be spread over a run (before and after each training
 * run), so the ceiling sees the same machine load as the figure it bounds. */
typedef struct sgemm_ceiling {
  int rows;            /* per worker */
  int threads;         /* BLAS threads per worker */
  int parallel;        /* workers computing at once */
  int samples;         /* timed steps behind the median */
  double step_s;       /* median time of one worker's GEMM sequence */
  double gemm_gflops;  /* the sequence's executed FLOPs / step_s */
  double samples_per_s;
} sgemm_ceiling;

typedef struct sgemm_probe {
  sgemm_step step;
  int batch, workers, threads, parallel;
  double *times;        /* OpenBLAS's threads */
  double *pooled_times; /* a CPU device's pool (kernels/cpu_pool.h), when threads > 1 */
  bool pooled;
  int n, cap;
} sgemm_probe;

/* Room for `cap` timed steps. Returns false when out of memory. */
bool sgemm_probe_create(const dpt_mlp_shape *s, int batch, int workers, int threads, int cores,
                        int cap, sgemm_probe *out);
/* Times `reps` more steps (after one untimed), up to the probe's capacity. */
void sgemm_probe_sample(sgemm_probe *p, int reps);
/* The ceiling from the median of every step timed so far (at least one; sorts them). */
sgemm_ceiling sgemm_probe_ceiling(sgemm_probe *p);
void sgemm_probe_destroy(sgemm_probe *p);

/* A probe sampled once with reps steps. Returns false when out of memory. */
bool sgemm_measure_ceiling(const dpt_mlp_shape *s, int batch, int workers, int threads, int cores,
                           int reps, sgemm_ceiling *out);

#endif
