/* The shared queue of --staleness inf, in one process and over MPI (host/train/piece_queue.h). */
#include "host/train/piece_queue.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#include "host/train/run.h"
#include "mpi/mpi_chan.h"

/* A request goes to process 0 on TAG_ASK; the answer comes back on TAG_ANSWER + the local worker. */
enum { TAG_ASK, TAG_ANSWER };

typedef struct piece_ask {
  int32_t proc, local, epoch; /* the asking worker: its process and index there; its epoch */
} piece_ask;

struct dpt_piece_queue {
  dpt_run *run;
  dpt_mpi_chan *link;
  pthread_t thread; /* process 0: answers the others */
  bool started;
  atomic_bool stop; /* the run is over: the thread leaves */
};

static long pieces_per_epoch(const dpt_run *run)
{
  return run->steps_per_epoch * run->all_workers;
}

/* Under queue_mu: epoch's queue, after every worker's first piece; a lost worker's goes to the
 * others. */
static void deal_locked(dpt_run *run, int epoch)
{
  run->queue_epoch = epoch;
  run->next_piece = run->all_workers;
  run->n_returned = 0;
  for (int w = 0; w < run->workers; w++)
    if (atomic_load(&run->slots[w].lost) && w < pieces_per_epoch(run))
      run->returned[run->n_returned++] = w;
}

/* Under queue_mu: the next piece of epoch, -1 when none is left. */
static long next_locked(dpt_run *run, int epoch)
{
  if (run->queue_epoch != epoch) deal_locked(run, epoch);
  if (run->n_returned > 0) return run->returned[--run->n_returned];
  if (run->next_piece < pieces_per_epoch(run)) return run->next_piece++;
  return -1;
}

void dpt_piece_queue_deal(dpt_run *run, int epoch)
{
  if (run->proc_rank > 0) return;
  pthread_mutex_lock(&run->queue_mu);
  if (run->queue_epoch != epoch) deal_locked(run, epoch);
  pthread_mutex_unlock(&run->queue_mu);
}

/* Another process's worker: process 0's answer, within --timeout. */
static int ask_process_0(dpt_run *run, int w, int epoch, long *piece, dpt_err *err)
{
  dpt_piece_queue *q = run->pieces;
  piece_ask ask = {.proc = run->proc_rank, .local = w, .epoch = epoch};
  int64_t answer = -1;
  int rc = dpt_mpi_chan_send(q->link, &ask, sizeof ask, 0, TAG_ASK, err);
  if (!rc) rc = dpt_mpi_chan_recv(q->link, &answer, sizeof answer, 0, TAG_ANSWER + w, NULL, err);
  *piece = (long)answer;
  return rc;
}

int dpt_piece_queue_take(dpt_run *run, int w, int epoch, bool first, long *piece, dpt_err *err)
{
  long k = -1, own = run->first_worker + w;
  int rc = DPT_OK;
  bool own_first = first && own < pieces_per_epoch(run);
  bool remote = run->proc_rank > 0 && !own_first;
  if (remote) rc = ask_process_0(run, w, epoch, &k, err);
  pthread_mutex_lock(&run->queue_mu);
  if (own_first) k = own;
  else if (!remote) k = next_locked(run, epoch);
  run->slots[w].piece = k;
  run->slots[w].piece_exchanges = run->slots[w].exchanges;
  pthread_mutex_unlock(&run->queue_mu);
  *piece = k;
  return rc;
}

/* Process 0: answers every request until the run is over; a failure aborts the exchange, which
 * wakes this process's workers with it (the askers time out, or end with the job). */
static void *answer_main(void *arg)
{
  dpt_piece_queue *q = arg;
  dpt_run *run = q->run;
  dpt_err err = {0};
  int rc;
  for (;;) {
    piece_ask ask;
    rc = dpt_mpi_chan_recv(q->link, &ask, sizeof ask, DPT_MPI_CHAN_ANY, TAG_ASK, &q->stop, &err);
    if (!rc && (ask.proc < 1 || ask.proc >= run->procs || ask.local < 0 ||
                ask.local >= run->workers))
      rc = dpt_err_set(&err, DPT_EINTERNAL, "a request from process %d, worker %d: no such worker",
                       ask.proc, ask.local);
    if (rc) break;
    pthread_mutex_lock(&run->queue_mu);
    int64_t answer = next_locked(run, ask.epoch);
    pthread_mutex_unlock(&run->queue_mu);
    rc = dpt_mpi_chan_send(q->link, &answer, sizeof answer, ask.proc, TAG_ANSWER + ask.local,
                           &err);
    if (rc) break;
  }
  if (rc == DPT_EABORTED && atomic_load(&q->stop)) return NULL; /* the run is over */
  dpt_err why = {0};
  dpt_err_set(&why, rc, "the shared queue (--staleness inf, process 0): %s", err.msg);
  dpt_sync_abort(&run->sync, rc, why.msg);
  return NULL;
}

int dpt_piece_queue_open(dpt_run *run, dpt_piece_queue **out, dpt_err *err)
{
  *out = NULL;
  if (!run->queued || run->procs <= 1) return DPT_OK;
  if (run->workers > DPT_MPI_CHAN_TAG_MAX - TAG_ANSWER)
    return dpt_err_set(err, DPT_EINPUT, "--staleness inf over MPI: %d workers per process: at "
                       "most %d", run->workers, DPT_MPI_CHAN_TAG_MAX - TAG_ANSWER);
  dpt_piece_queue *q = calloc(1, sizeof *q);
  if (!q) return dpt_err_set(err, DPT_ENOMEM, "the shared queue: out of memory");
  q->run = run;
  atomic_init(&q->stop, false);
  *out = q;
  int rc = dpt_mpi_chan_open("pieces", run->cfg->timeout_s, &q->link, err);
  if (!rc && run->proc_rank == 0) {
    if (pthread_create(&q->thread, NULL, answer_main, q) != 0)
      rc = dpt_err_set(err, DPT_ENOMEM, "the shared queue: cannot start its thread");
    else
      q->started = true;
  }
  return rc;
}

void dpt_piece_queue_abort(dpt_piece_queue *q, int code, const char *why)
{
  if (q && q->link) dpt_mpi_chan_abort(q->link, code, why);
}

void dpt_piece_queue_close(dpt_piece_queue *q)
{
  if (!q) return;
  atomic_store(&q->stop, true);
  if (q->started) pthread_join(q->thread, NULL);
  dpt_mpi_chan_close(q->link);
  free(q);
}
