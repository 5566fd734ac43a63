/* Private to host/: a hook into the in-process allreduce, for the hierarchical communicator
 * (host/comm/comm_hier.c). Each rank of an allreduce owns one chunk: the reduce-scatter sums the
 * chunk over the group into that rank's buffer, and the all-gather copies it to the others. The
 * hook runs on every rank, on its own chunk, between the two: there the hierarchical communicator
 * sums the chunk across processes, so that the all-gather spreads the sum over every process.
 * It also runs with a single rank (the whole buffer is its chunk), possibly on an empty chunk. */
#ifndef DPT_HOST_COMM_COMM_THREADS_CHUNK_H
#define DPT_HOST_COMM_COMM_THREADS_CHUNK_H

#include "dpt/comm.h"

/* Returns 0 or a DPT_E* code with err filled; a failure aborts the group with that error. */
typedef int (*dpt_comm_threads_chunk_fn)(void *ctx, int rank, float *chunk, size_t n,
                                         dpt_err *err);

/* Set once, before any collective. */
void dpt_comm_threads_set_chunk_fn(dpt_comm_threads *g, dpt_comm_threads_chunk_fn fn, void *ctx);

/* The group's ranks are workers first.. of every process's: timeouts name them so. */
void dpt_comm_threads_name_ranks_from(dpt_comm_threads *g, int first);

#endif
