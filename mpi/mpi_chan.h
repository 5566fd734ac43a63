/* A channel: this process's end of its own duplicate of MPI_COMM_WORLD, with the few operations
 * dptrain needs between processes. Each user opens its own channel (a local worker's share of the
 * gradient sum, the trainer's figures, the parameter server's link), so threads never issue
 * collectives on a shared communicator, whose order MPI requires to be the same everywhere.
 * Collectives on a channel come from one thread at a time; point-to-point calls from any number.
 *
 * Every wait polls (MPI_Test), so dpt_mpi_chan_abort wakes it from any thread, and it gives up
 * after the channel's timeout (<= 0: never). A failed wait aborts the channel, whose later calls
 * then fail at once. MPI cannot cancel a collective, so after a failure the channel's operations
 * may still be in flight: the caller ends the job (host/main.c calls MPI_Abort), which is also how
 * the other processes learn of the failure.
 *
 * Open and close are collective: every process opens its channels in the same order.
 * Without MPI in the build (mpi_chan_absent.c) open fails; nothing else is reachable. */
#ifndef DPT_MPI_CHAN_H
#define DPT_MPI_CHAN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "dpt/status.h"

typedef struct dpt_mpi_chan dpt_mpi_chan;

enum { DPT_MPI_CHAN_TAG_MAX = 32765 };

/* name appears in messages ("mpi <name>: ..."). */
int dpt_mpi_chan_open(const char *name, double timeout_s, dpt_mpi_chan **out, dpt_err *err);
/* For a channel between the local workers `local_worker` of every process (workers_per_process
 * each): a sum's timeout names the missing process's worker too, "process 1 (worker 3)". */
void dpt_mpi_chan_name_workers(dpt_mpi_chan *c, int local_worker, int workers_per_process);
int dpt_mpi_chan_rank(const dpt_mpi_chan *c);
int dpt_mpi_chan_size(const dpt_mpi_chan *c);

/* all[r * bytes .. (r + 1) * bytes) = process r's `mine`, on every process. */
int dpt_mpi_chan_allgather(dpt_mpi_chan *c, const void *mine, size_t bytes, void *all,
                           dpt_err *err);

/* buf[0..n) = the sum over processes of buf, every element added in rank order,
 * b_0 + b_1 + ... + b_{P-1}, on every process: bit-reproducible, unlike MPI_Allreduce, whose
 * order is the library's. Part p of buf goes to process p, which adds the P copies of its part
 * in rank order; then every process gathers the parts. Both stages are point-to-point messages
 * with each other process (tags above DPT_MPI_CHAN_TAG_MAX), so a timeout names the processes
 * that did not send theirs ("waiting for process 1 (worker 3)"), which a collective could not.
 * Like a ring allreduce, each process sends and receives 2(P-1)/P of the buffer. */
int dpt_mpi_chan_sum(dpt_mpi_chan *c, float *buf, size_t n, dpt_err *err);

/* Bytes one process sends plus receives in dpt_mpi_chan_sum of n floats over procs processes. */
size_t dpt_mpi_chan_sum_bytes(size_t n, int procs);

int dpt_mpi_chan_bcast(dpt_mpi_chan *c, void *buf, size_t bytes, int root, dpt_err *err);
/* A broadcast whose wait has its own bound (<= 0: none) and says what it waited for, e.g. a root
 * busy with a slow file: "timed out after 30 s waiting for process 0 to save the checkpoint". */
int dpt_mpi_chan_bcast_awaiting(dpt_mpi_chan *c, void *buf, size_t bytes, int root,
                                double timeout_s, const char *awaited, dpt_err *err);
int dpt_mpi_chan_barrier(dpt_mpi_chan *c, dpt_err *err);

/* Point to point, tag 0..DPT_MPI_CHAN_TAG_MAX (the two tags above it, up to the 32767 MPI
 * promises at least, carry dpt_mpi_chan_sum's messages). send returns once buf may
 * be reused. recv with cancel == NULL waits at most the timeout; with cancel, it waits with no
 * deadline (the sender may be idle for long) until the message arrives, the channel is aborted,
 * or *cancel becomes true: then the receive is cancelled and it returns DPT_EABORTED without
 * aborting the channel. */
int dpt_mpi_chan_send(dpt_mpi_chan *c, const void *buf, size_t bytes, int to, int tag,
                      dpt_err *err);
int dpt_mpi_chan_recv(dpt_mpi_chan *c, void *buf, size_t bytes, int from, int tag,
                      const atomic_bool *cancel, dpt_err *err);
/* recv's `from` for a message from any process. */
enum { DPT_MPI_CHAN_ANY = -1 };

/* Wakes every wait on the channel with code and why; later calls fail at once. First wins. */
void dpt_mpi_chan_abort(dpt_mpi_chan *c, int code, const char *why);

void dpt_mpi_chan_close(dpt_mpi_chan *c);

#endif
