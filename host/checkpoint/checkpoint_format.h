/* The checkpoint file format: everything a run needs to continue exactly where it stopped, encoded
 * and decoded in memory with every field checked. Files (atomic writes, reading) are
 * host/checkpoint/checkpoint_io.c; matching a checkpoint against a run is host/train/checkpoint_run.c.
 *
 * Version 4, every integer and float little-endian, floats as IEEE-754 bits:
 *   header, 128 bytes:
 *       0  magic "DPTCKPT\0"
 *       8  u32 version (3)
 *      12  u32 header bytes (128)
 *      16  u64 payload bytes
 *      24  u64 payload checksum: FNV-1a 64 of the payload
 *      32  u32 linear layers L (1..DPT_MAX_LAYERS)
 *      36  u32 sizes[DPT_MAX_LAYERS + 1]: features, hidden sizes, classes; entries past L are 0
 *     104  u64 parameters (the count the sizes give)
 *     112  u32 workers: every MPI process's, workers / processes each
 *     116  u32 processes: the MPI processes of the run that wrote it (1..workers, dividing it)
 *     120  u64 header checksum: FNV-1a 64 of bytes 0..119
 *   payload:
 *     settings (56 bytes): u64 seed, u32 strategy, u32 global batch, f32 lr, f32 warm-up epochs,
 *       u32 lr decay, u32 lr step epochs, f32 lr gamma, f32 momentum, f32 weight decay,
 *       u32 epochs of the run that wrote it, u64 training samples
 *     position (24 bytes): u32 epoch to continue in (1-based), u32 steps skipped in a row up to
 *       this position, u64 next step within that epoch (0-based), u64 steps skipped so far
 *       (--on-nan skip)
 *     per worker (24 bytes each, in global worker order: process p's local worker w is
 *       p x workers / processes + w): f64 loss sum, u64 correct, u64 samples of the epoch so far
 *     parameters: f32 x parameters, every one finite
 *     optimizer state (momentum velocity): f32 x parameters, every one finite
 *     data set and epoch (24 bytes): u64 training set's fingerprint, u64 test set's fingerprint
 *       (dpt_dataset.fingerprint; 0: not recorded), u64 steps skipped in the epoch so far
 *     model (512 bytes): the canonical --model text ("conv:32:3,relu,...,fc:10"), NUL-padded
 *
 * Version 3 is version 4 without the model: it holds an MLP, whose text the sizes give.
 * Version 2 is version 3 without the last 24 bytes and with 0 for the steps skipped in a row (a
 * reserved field then): it reads with no data set recorded and no skips counted in the epoch.
 * Version 1 is version 2 with 0 at offset 116 (reserved then): it reads as one process.
 *
 * There is no RNG state to save: the only randomness after initialization is each epoch's sample
 * order, which depends on the seed and the epoch alone (host/train/worker.c), so seed + position is it. */
#ifndef DPT_HOST_CHECKPOINT_CHECKPOINT_FORMAT_H
#define DPT_HOST_CHECKPOINT_CHECKPOINT_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#include "dpt/config.h"
#include "dpt/mlp.h"
#include "dpt/status.h"

#define DPT_CHECKPOINT_VERSION 4
#define DPT_CHECKPOINT_HEADER_BYTES 128

/* One worker's training figures of the epoch in progress (so a resumed epoch reports the loss an
 * uninterrupted one would). */
typedef struct dpt_checkpoint_worker {
  double loss_sum;
  uint64_t correct;
  uint64_t samples;
} dpt_checkpoint_worker;

typedef struct dpt_checkpoint {
  dpt_mlp_shape shape;     /* n_layers and sizes only: the values per sample of each layer */
  char model[DPT_MODEL_TEXT_MAX]; /* the canonical --model text (dpt_mlp_shape_text) */
  size_t n_params;
  int workers;             /* over every process */
  int processes;           /* MPI processes of the run that wrote it, workers / processes each */
  /* The settings the numbers depend on. */
  uint64_t seed;
  dpt_strategy strategy;
  int batch;
  dpt_schedule schedule;
  float momentum, weight_decay;
  int epochs;              /* --epochs of the run that wrote it (the cosine schedule's horizon) */
  uint64_t train_samples;
  uint64_t train_fingerprint, test_fingerprint; /* of the data sets (0: not recorded) */
  /* Where to continue. */
  int epoch;               /* 1-based; epochs + 1 once the run has finished */
  uint64_t step;           /* next step within epoch, 0-based */
  uint64_t skipped_steps;
  uint64_t skips_in_a_row; /* steps skipped in a row just before this position */
  uint64_t epoch_skipped_steps; /* of the epoch in progress */
  /* Arrays: the caller's when encoding; owned by the checkpoint when decoded. */
  dpt_checkpoint_worker *per_worker; /* workers entries, in global worker order */
  float *params;           /* n_params */
  float *velocity;         /* n_params */
  void *storage;           /* decoded only: the one allocation behind the arrays */
} dpt_checkpoint;

/* Receives encoded bytes in order; returns 0 or a DPT_E* code (filling err). */
typedef int (*dpt_checkpoint_put)(void *ctx, const void *bytes, size_t n, dpt_err *err);

/* Encodes ck through put: the header, then the payload. Streams the arrays (no copy of the
 * parameters is made), reading them three times: to check them, for the checksum, to write. A
 * parameter or velocity that is NaN or infinite is DPT_ENONFINITE (the run diverged: such a state
 * would not resume), any other impossible field DPT_EINTERNAL; either way nothing is put. */
int dpt_checkpoint_encode(const dpt_checkpoint *ck, dpt_checkpoint_put put, void *ctx,
                          dpt_err *err);

/* Decodes buf[0..len) (version 1 to 4) into out, checking every field, both checksums and that
 * every parameter and velocity is finite.
 * Errors are DPT_EINPUT
 * "<name>: <what is wrong>". On success free out with dpt_checkpoint_free. */
int dpt_checkpoint_decode(const uint8_t *buf, size_t len, const char *name, dpt_checkpoint *out,
                          dpt_err *err);

void dpt_checkpoint_free(dpt_checkpoint *ck);

#endif
