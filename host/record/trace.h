/* --trace: a Chrome trace (Trace Event Format; opens in Perfetto or chrome://tracing) of a run's
 * first steps, one track per worker thread and one for the parameter server's thread.
 *
 * Each track is a fixed-size event array written only by its own thread, so recording takes no
 * lock; the file is written after every thread was joined. Spans of steps past the traced ones,
 * or past a full track, are counted as dropped and the count is stated in the file. */
#ifndef DPT_HOST_RECORD_TRACE_H
#define DPT_HOST_RECORD_TRACE_H

#include <stdbool.h>
#include <stdint.h>

#include "dpt/status.h"
#include "dpt/sync.h"

typedef enum {
  DPT_SPAN_COMPUTE,   /* loading the shard, forward and backward */
  DPT_SPAN_COMM,      /* the exchange moving and reducing bytes ("allreduce" or "push-pull") */
  DPT_SPAN_WAIT,      /* the exchange blocked on the slowest worker */
  DPT_SPAN_EVAL,      /* evaluating the worker's slice of the test set */
  DPT_SPAN_OPTIMIZER  /* the server summing one shard's gradients and stepping it */
} dpt_span_kind;

typedef struct dpt_trace dpt_trace;

typedef struct dpt_trace_config {
  int workers;
  dpt_strategy strategy;
  int ps_shards;       /* > 0 adds the server track (strategy ps) */
  bool ps_per_push;    /* staleness: the server applies each worker's push alone (workers spans
                        * per shard and step on its track) */
  long steps_before;   /* steps done before this run started (a resumed run) */
  long max_steps;      /* spans of steps steps_before + 1 .. steps_before + max_steps are kept */
  long total_steps;    /* of the run, for the file's metadata */
  double origin_s;     /* dpt_now() at which the timeline starts */
} dpt_trace_config;

int dpt_trace_create(const dpt_trace_config *cfg, dpt_trace **out, dpt_err *err);

/* One span on `track` (a worker, or dpt_trace_server_track), times from dpt_now(). Call only from
 * the track's own thread. `step` is 1-based; `shard` is -1 where it does not apply. */
void dpt_trace_span(dpt_trace *t, int track, dpt_span_kind kind, double t0, double t1, long step,
                    int shard);

/* A worker's training step: compute in [start, computed], then the exchange in [computed, end],
 * split by `timing` into its wait and its communication. */
void dpt_trace_step(dpt_trace *t, int worker, long step, double start, double computed,
                    double end, const dpt_sync_timing *timing);

/* The parameter server's per-shard hook (dpt_ps_apply_hook): records an optimizer span, with
 * the pushing worker when there is one (staleness: every applied push). */
void dpt_trace_server_apply(void *trace, int shard, uint64_t round, int worker, double t0,
                            double t1);

/* Writes the trace atomically. Call after every recording thread was joined. */
int dpt_trace_write(const dpt_trace *t, const char *path, dpt_err *err);

void dpt_trace_destroy(dpt_trace *t);

#endif
