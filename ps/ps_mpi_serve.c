/* Process 0's serve threads (ps/ps_mpi.h): each stands in for one worker of another process and
 * calls the local server's push and pull directly. */
#include <stdlib.h>

#include "mpi/mpi_chan.h"
#include "ps/ps_internal.h"
#include "ps/ps_mpi.h"

typedef struct ps_serve_thread {
  ps_local *ps;
  int proc, local, worker; /* the remote worker: process, local index, global index */
  float *grads, *params;   /* staging, n_params floats each */
  pthread_t thread;
  bool started;
} ps_serve_thread;

typedef struct ps_mpi_serve {
  ps_serve_thread *threads;
  int n;
  atomic_bool stop; /* the run is over: threads waiting for a push leave */
} ps_mpi_serve;

/* One round of the remote worker: its push in, the round's parameters out. */
static int serve_round(ps_serve_thread *t, dpt_err *err)
{
  ps_local *ps = t->ps;
  size_t bytes = ps->cfg.n_params * sizeof(float);
  ps_mpi_push_head push;
  /* No deadline: the worker computes between rounds. A stalled one leaves the round incomplete,
   * and the pulls waiting for it time out and abort the server, which wakes this receive. */
  int rc = dpt_mpi_chan_recv(ps->link, &push, sizeof push, t->proc,
                             ps_mpi_tag(t->local, PS_TAG_PUSH_HEAD), &ps->serve->stop, err);
  if (!rc)
    rc = dpt_mpi_chan_recv(ps->link, t->grads, bytes, t->proc,
                           ps_mpi_tag(t->local, PS_TAG_PUSH_GRADS), NULL, err);
  if (!rc) rc = ps_local_push(ps, t->worker, t->grads, push.lr, push.votes, err);
  dpt_ps_round round = {0};
  if (!rc) rc = ps_local_pull(ps, t->worker, t->params, &round, err);
  ps_mpi_pull_head pull = {.votes = round.votes};
  if (!rc)
    rc = dpt_mpi_chan_send(ps->link, &pull, sizeof pull, t->proc,
                           ps_mpi_tag(t->local, PS_TAG_PULL_HEAD), err);
  if (!rc)
    rc = dpt_mpi_chan_send(ps->link, t->params, bytes, t->proc,
                           ps_mpi_tag(t->local, PS_TAG_PULL_PARAMS), err);
  return rc;
}

static void *serve_main(void *arg)
{
  ps_serve_thread *t = arg;
  dpt_err err = {0};
  int rc;
  while ((rc = serve_round(t, &err)) == DPT_OK) continue;
  if (rc == DPT_EABORTED && atomic_load(&t->ps->serve->stop)) return NULL; /* the run is over */
  dpt_err why = {0};
  dpt_err_set(&why, rc, "ps: serving worker %d (process %d): %s", t->worker, t->proc, err.msg);
  ps_local_abort(t->ps, rc, why.msg);
  return NULL;
}

int ps_mpi_serve_start(ps_local *ps, int local_workers, dpt_err *err)
{
  if (local_workers > PS_MPI_MAX_WORKERS)
    return dpt_err_set(err, DPT_EINPUT, "ps over MPI: %d workers per process: at most %d",
                       local_workers, PS_MPI_MAX_WORKERS);
  ps_mpi_serve *sv = calloc(1, sizeof *sv);
  if (!sv) return dpt_err_set(err, DPT_ENOMEM, "ps over MPI: out of memory");
  atomic_init(&sv->stop, false);
  ps->serve = sv;
  int rc = dpt_mpi_chan_open("ps", ps->cfg.timeout_s, &ps->link, err);
  if (rc) return rc;
  sv->n = ps->cfg.n_workers - local_workers; /* every process's but this one's */
  sv->threads = calloc((size_t)sv->n, sizeof *sv->threads);
  if (!sv->threads) return dpt_err_set(err, DPT_ENOMEM, "ps over MPI: out of memory");
  for (int i = 0; i < sv->n && !rc; i++) {
    ps_serve_thread *t = &sv->threads[i];
    *t = (ps_serve_thread){.ps = ps, .worker = local_workers + i,
                           .proc = 1 + i / local_workers, .local = i % local_workers};
    t->grads = malloc(ps->cfg.n_params * sizeof *t->grads);
    t->params = malloc(ps->cfg.n_params * sizeof *t->params);
    if (!t->grads || !t->params)
      rc = dpt_err_set(err, DPT_ENOMEM, "ps over MPI: out of memory for %zu parameters",
                       ps->cfg.n_params);
    else if (pthread_create(&t->thread, NULL, serve_main, t) != 0)
      rc = dpt_err_set(err, DPT_ENOMEM, "ps over MPI: cannot start a serve thread");
    else
      t->started = true;
  }
  return rc;
}

void ps_mpi_serve_stop(ps_local *ps)
{
  ps_mpi_serve *sv = ps->serve;
  if (!sv) return;
  atomic_store(&sv->stop, true);
  for (int i = 0; sv->threads && i < sv->n; i++) {
    ps_serve_thread *t = &sv->threads[i];
    if (t->started) pthread_join(t->thread, NULL);
    free(t->grads);
    free(t->params);
  }
  dpt_mpi_chan_close(ps->link);
  ps->link = NULL;
  free(sv->threads);
  free(sv);
  ps->serve = NULL;
}
