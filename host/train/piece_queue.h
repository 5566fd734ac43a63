/* Private to host/: the shared queue of --staleness inf (docs/ps.md "Who trains what"). An epoch
 * is cut into pieces, one worker's share of one step (piece k: step k / all_workers, share
 * k % all_workers); each worker takes the next when it is ready, so fast workers train more of
 * the epoch, and every piece is dealt once per epoch. Each worker's first piece of an epoch is
 * its own share of the epoch's first step (global worker g: piece g), so every worker starts at
 * once; the queue deals the rest from piece all_workers on, pieces lost workers held first.
 *
 * Under MPI the queue lives on process 0 (its state in dpt_run, under queue_mu): the other
 * processes' workers ask it for their next piece on the queue's own channel, a message each way,
 * and a thread of process 0 answers them. A request names its epoch, and the queue is dealt
 * anew for the first request (or deal) of a later epoch: every piece of epoch e is taken before
 * the epoch's end, where every worker of every process meets, and every piece of e + 1 after. */
#ifndef DPT_HOST_TRAIN_PIECE_QUEUE_H
#define DPT_HOST_TRAIN_PIECE_QUEUE_H

#include <stdbool.h>

#include "dpt/status.h"

struct dpt_run;
typedef struct dpt_piece_queue dpt_piece_queue;

/* Under MPI with the queue (collective: every process at the same point): opens the queue's
 * channel, and on process 0 starts the thread that answers the others. Otherwise *out is NULL
 * and nothing is opened. */
int dpt_piece_queue_open(struct dpt_run *run, dpt_piece_queue **out, dpt_err *err);

/* Worker 0 of process 0, before an epoch's first barrier (elsewhere: nothing): deals the epoch
 * unless a request of another process dealt it first. */
void dpt_piece_queue_deal(struct dpt_run *run, int epoch);

/* Local worker w's next piece of `epoch`, or -1 when none is left: first, its first piece;
 * then the queue's next, asked of process 0 under MPI. Recorded in w's slot with its exchanges
 * so far (host/train/run_lose.c). */
int dpt_piece_queue_take(struct dpt_run *run, int w, int epoch, bool first, long *piece,
                         dpt_err *err);

/* Wakes the waits on the queue's messages with an error (from any thread). NULL: no-op. */
void dpt_piece_queue_abort(dpt_piece_queue *q, int code, const char *why);

/* Stops process 0's thread and closes the channel (collective, as open). NULL: no-op. */
void dpt_piece_queue_close(dpt_piece_queue *q);

#endif
