/* Process 0's serve threads (ps/ps_mpi.h): each stands in for one worker of another process and
 * calls the server's push, pull and read_params through its table (the local server's or the
 * stale one's, ps/ps_ops.h). */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "mpi/mpi_chan.h"
#include "ps/ps_mpi.h"
#include "ps/ps_ops.h"

typedef struct ps_serve_thread {
  ps_mpi_serve *sv;
  int proc, local, worker; /* the remote worker: process, local index, global index */
  float *grads, *params;   /* staging, n_params floats each */
  pthread_t thread;
  bool started;
} ps_serve_thread;

struct ps_mpi_serve {
  const ps_ops *ops;
  void *impl;
  size_t n_params;
  dpt_mpi_chan *link;
  ps_serve_thread *threads;
  int n;
  atomic_bool stop; /* the run is over: threads waiting for a push leave */
};

/* One request of the remote worker: its push in and the pull's parameters out, or (a read) the
 * server's parameters out. */
static int serve_request(ps_serve_thread *t, dpt_err *err)
{
  ps_mpi_serve *sv = t->sv;
  size_t bytes = sv->n_params * sizeof(float);
  ps_mpi_push_head push;
  /* No deadline: the worker computes between rounds. A stalled one leaves the round incomplete,
   * and the pulls waiting for it time out and abort the server, which wakes this receive. */
  int rc = dpt_mpi_chan_recv(sv->link, &push, sizeof push, t->proc,
                             ps_mpi_tag(t->local, PS_TAG_PUSH_HEAD), &sv->stop, err);
  dpt_ps_round round = {0};
  if (!rc && push.kind == PS_MPI_READ) {
    rc = sv->ops->read_params(sv->impl, t->worker, t->params, err);
  } else if (!rc) {
    rc = dpt_mpi_chan_recv(sv->link, t->grads, bytes, t->proc,
                           ps_mpi_tag(t->local, PS_TAG_PUSH_GRADS), NULL, err);
    if (!rc) rc = sv->ops->push(sv->impl, t->worker, t->grads, push.lr, push.votes, NULL,
                                     err);
    if (!rc) rc = sv->ops->pull(sv->impl, t->worker, t->params, &round, NULL, err);
  }
  ps_mpi_pull_head pull = {.votes = round.votes, .staleness = round.staleness};
  if (!rc)
    rc = dpt_mpi_chan_send(sv->link, &pull, sizeof pull, t->proc,
                           ps_mpi_tag(t->local, PS_TAG_PULL_HEAD), err);
  if (!rc)
    rc = dpt_mpi_chan_send(sv->link, t->params, bytes, t->proc,
                           ps_mpi_tag(t->local, PS_TAG_PULL_PARAMS), err);
  return rc;
}

static void *serve_main(void *arg)
{
  ps_serve_thread *t = arg;
  ps_mpi_serve *sv = t->sv;
  dpt_err err = {0};
  int rc;
  while ((rc = serve_request(t, &err)) == DPT_OK) continue;
  if (rc == DPT_EABORTED && atomic_load(&sv->stop)) return NULL; /* the run is over */
  dpt_err why = {0};
  dpt_err_set(&why, rc, "ps: serving worker %d (process %d): %s", t->worker, t->proc, err.msg);
  sv->ops->abort(sv->impl, rc, why.msg);
  return NULL;
}

int ps_mpi_serve_start(const ps_ops *ops, void *impl, const dpt_ps_config *cfg,
                       int local_workers, ps_mpi_serve **out, dpt_err *err)
{
  *out = NULL;
  if (local_workers > PS_MPI_MAX_WORKERS)
    return dpt_err_set(err, DPT_EINPUT, "ps over MPI: %d workers per process: at most %d",
                       local_workers, PS_MPI_MAX_WORKERS);
  ps_mpi_serve *sv = calloc(1, sizeof *sv);
  if (!sv) return dpt_err_set(err, DPT_ENOMEM, "ps over MPI: out of memory");
  *sv = (ps_mpi_serve){.ops = ops, .impl = impl, .n_params = cfg->n_params};
  atomic_init(&sv->stop, false);
  *out = sv;
  int rc = dpt_mpi_chan_open("ps", cfg->timeout_s, &sv->link, err);
  if (rc) return rc;
  sv->n = cfg->n_workers - local_workers; /* every process's but this one's */
  sv->threads = calloc((size_t)sv->n, sizeof *sv->threads);
  if (!sv->threads) return dpt_err_set(err, DPT_ENOMEM, "ps over MPI: out of memory");
  for (int i = 0; i < sv->n && !rc; i++) {
    ps_serve_thread *t = &sv->threads[i];
    *t = (ps_serve_thread){.sv = sv, .worker = local_workers + i,
                           .proc = 1 + i / local_workers, .local = i % local_workers};
    t->grads = malloc(cfg->n_params * sizeof *t->grads);
    t->params = malloc(cfg->n_params * sizeof *t->params);
    if (!t->grads || !t->params)
      rc = dpt_err_set(err, DPT_ENOMEM, "ps over MPI: out of memory for %zu parameters",
                       cfg->n_params);
    else if (pthread_create(&t->thread, NULL, serve_main, t) != 0)
      rc = dpt_err_set(err, DPT_ENOMEM, "ps over MPI: cannot start a serve thread");
    else
      t->started = true;
  }
  return rc;
}

void ps_mpi_serve_abort(ps_mpi_serve *sv, int code, const char *why)
{
  if (sv && sv->link) dpt_mpi_chan_abort(sv->link, code, why);
}

void ps_mpi_serve_stop(ps_mpi_serve *sv)
{
  if (!sv) return;
  atomic_store(&sv->stop, true);
  for (int i = 0; sv->threads && i < sv->n; i++) {
    ps_serve_thread *t = &sv->threads[i];
    if (t->started) pthread_join(t->thread, NULL);
    free(t->grads);
    free(t->params);
  }
  dpt_mpi_chan_close(sv->link);
  free(sv->threads);
  free(sv);
}
