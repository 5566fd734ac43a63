/* The parameter server as the processes other than 0 see it (ps/ps_mpi.h): no shards, no server
 * thread; each worker's push and pull are messages to process 0's serve thread for it. */
#include <stdlib.h>

#include "dpt/timer.h"
#include "mpi/mpi_chan.h"
#include "ps/ps_mpi.h"

int ps_mpi_remote_create(const dpt_ps_config *cfg, dpt_ps **out, dpt_err *err)
{
  *out = NULL;
  if (cfg->n_workers > PS_MPI_MAX_WORKERS)
    return dpt_err_set(err, DPT_EINPUT, "ps over MPI: %d workers per process: at most %d",
                       cfg->n_workers, PS_MPI_MAX_WORKERS);
  dpt_ps *ps = calloc(1, sizeof *ps);
  if (!ps) return dpt_err_set(err, DPT_ENOMEM, "ps over MPI: out of memory");
  ps->cfg = *cfg;
  ps->group = cfg->n_workers;
  ps->remote = true;
  ps->workers = ps_alloc_aligned((size_t)cfg->n_workers * sizeof *ps->workers);
  pthread_mutex_init(&ps->mu, NULL); /* dpt_ps_get_stats reads (zero) rounds under it */
  atomic_init(&ps->abort_claimed, 0);
  atomic_init(&ps->abort_code, 0);
  int rc = ps->workers ? dpt_mpi_chan_open("ps", cfg->timeout_s, &ps->link, err)
                       : dpt_err_set(err, DPT_ENOMEM, "ps over MPI: out of memory");
  if (rc) {
    ps_mpi_remote_destroy(ps);
    return rc;
  }
  *out = ps;
  return DPT_OK;
}

int ps_mpi_remote_push(dpt_ps *ps, int worker, const float *grads, float lr,
                       dpt_ps_votes votes, dpt_err *err)
{
  ps_mpi_push_head head = {.lr = lr, .votes = votes};
  int rc = dpt_mpi_chan_send(ps->link, &head, sizeof head, 0,
                             ps_mpi_tag(worker, PS_TAG_PUSH_HEAD), err);
  if (!rc)
    rc = dpt_mpi_chan_send(ps->link, grads, ps->cfg.n_params * sizeof *grads, 0,
                           ps_mpi_tag(worker, PS_TAG_PUSH_GRADS), err);
  return rc;
}

int ps_mpi_remote_pull(dpt_ps *ps, int worker, float *params, dpt_err *err)
{
  ps_worker *w = &ps->workers[worker];
  double t0 = dpt_now();
  ps_mpi_pull_head head;
  int rc = dpt_mpi_chan_recv(ps->link, &head, sizeof head, 0,
                             ps_mpi_tag(worker, PS_TAG_PULL_HEAD), NULL, err);
  if (!rc)
    rc = dpt_mpi_chan_recv(ps->link, params, ps->cfg.n_params * sizeof *params, 0,
                           ps_mpi_tag(worker, PS_TAG_PULL_PARAMS), NULL, err);
  if (rc) return rc;
  /* Mostly the wait for the round's slowest worker: the head arrives when the round is done. */
  w->last_wait_s = dpt_now() - t0;
  w->last_votes = head.votes;
  w->pulled = w->pushed;
  return DPT_OK;
}

void ps_mpi_remote_destroy(dpt_ps *ps)
{
  dpt_mpi_chan_close(ps->link);
  pthread_mutex_destroy(&ps->mu);
  free(ps->workers);
  free(ps);
}
