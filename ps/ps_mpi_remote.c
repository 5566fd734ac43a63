/* The remote client (ps/ps_ops.h): the parameter server as the processes other than 0 see it
 * under MPI (ps/ps_mpi.h). No shards, no server thread: each worker's push and pull are messages
 * to process 0's serve thread for it. */
#include <stdlib.h>

#include "dpt/timer.h"
#include "mpi/mpi_chan.h"
#include "ps/ps_abort_record.h"
#include "ps/ps_mpi.h"
#include "ps/ps_ops.h"
#include "ps/ps_rounds.h"

typedef struct ps_remote {
  dpt_ps_config cfg;  /* n_workers: this process's */
  ps_worker *workers;
  struct dpt_mpi_chan *link;
  ps_abort_record aborted;
} ps_remote;

static void remote_abort(void *impl, int code, const char *why)
{
  ps_remote *r = impl;
  ps_abort_record_set(&r->aborted, code, why);
  dpt_mpi_chan_abort(r->link, code, why); /* wakes the waits on messages */
}

/* rc from a failed check (ps/ps_rounds.h), described in why: a broken contract aborts the ps. */
static int refuse(ps_remote *r, int rc, const dpt_err *why, dpt_err *err)
{
  remote_abort(r, rc, why->msg);
  return dpt_err_set(err, rc, "%s", why->msg);
}

static int remote_push(void *impl, int worker, const float *grads, float lr, dpt_votes votes,
                       const dpt_ps_pipe *pipe, dpt_err *err)
{
  ps_remote *r = impl;
  dpt_err why = {0};
  int rc = ps_check_worker(worker, r->cfg.n_workers, "push", &why);
  if (rc) return refuse(r, rc, &why, err);
  if ((rc = ps_abort_record_error(&r->aborted, err))) return rc;
  ps_worker *w = &r->workers[worker];
  if ((rc = ps_check_push(w, worker, &why))) return refuse(r, rc, &why, err);
  /* One message: the whole gradient is on the host first. */
  if (pipe && (rc = pipe->ready(pipe->ctx, 0, r->cfg.n_params, &why)))
    return refuse(r, rc, &why, err);
  ps_mpi_push_head head = {.kind = PS_MPI_PUSH, .lr = lr, .votes = votes};
  rc = dpt_mpi_chan_send(r->link, &head, sizeof head, 0, ps_mpi_tag(worker, PS_TAG_PUSH_HEAD),
                         err);
  if (!rc)
    rc = dpt_mpi_chan_send(r->link, grads, r->cfg.n_params * sizeof *grads, 0,
                           ps_mpi_tag(worker, PS_TAG_PUSH_GRADS), err);
  if (!rc) w->pushed++;
  return rc;
}

/* The answer to worker's last push or read: its head, then the parameters. */
static int receive_answer(ps_remote *r, int worker, float *params, ps_mpi_pull_head *head,
                          dpt_err *err)
{
  int rc = dpt_mpi_chan_recv(r->link, head, sizeof *head, 0,
                             ps_mpi_tag(worker, PS_TAG_PULL_HEAD), NULL, err);
  if (!rc)
    rc = dpt_mpi_chan_recv(r->link, params, r->cfg.n_params * sizeof *params, 0,
                           ps_mpi_tag(worker, PS_TAG_PULL_PARAMS), NULL, err);
  return rc;
}

static int remote_pull(void *impl, int worker, float *params, dpt_ps_round *round,
                       const dpt_ps_pipe *pipe, dpt_err *err)
{
  ps_remote *r = impl;
  dpt_err why = {0};
  int rc = ps_check_worker(worker, r->cfg.n_workers, "pull", &why);
  if (rc) return refuse(r, rc, &why, err);
  ps_worker *w = &r->workers[worker];
  double t0 = dpt_now();
  ps_mpi_pull_head head;
  if ((rc = receive_answer(r, worker, params, &head, err))) return rc;
  /* Mostly the wait for the round's slowest worker: the head arrives when the round is done. */
  round->wait_s = dpt_now() - t0;
  round->votes = head.votes;
  round->staleness = head.staleness;
  w->pulled = w->pushed;
  return pipe ? pipe->arrived(pipe->ctx, 0, r->cfg.n_params, err) : DPT_OK;
}

/* The rounds are process 0's to count. */
static void remote_get_stats(void *impl, dpt_ps_stats *out) { *out = (dpt_ps_stats){0}; }

static int remote_read_velocity(void *impl, float *out, dpt_err *err)
{
  ps_remote *r = impl;
  return dpt_err_set(err, DPT_EINTERNAL,
                     "ps over MPI: process %d holds no optimizer state (process 0 does)",
                     r->cfg.proc_rank);
}

/* Process 0's server's parameters, asked for on worker's messages (ps/ps_mpi.h). */
static int remote_read_params(void *impl, int worker, float *out, dpt_err *err)
{
  ps_remote *r = impl;
  dpt_err why = {0};
  int rc = ps_check_worker(worker, r->cfg.n_workers, "read", &why);
  if (rc) return refuse(r, rc, &why, err);
  if ((rc = ps_abort_record_error(&r->aborted, err))) return rc;
  ps_mpi_push_head ask = {.kind = PS_MPI_READ};
  rc = dpt_mpi_chan_send(r->link, &ask, sizeof ask, 0, ps_mpi_tag(worker, PS_TAG_PUSH_HEAD), err);
  ps_mpi_pull_head head;
  return rc ? rc : receive_answer(r, worker, out, &head, err);
}

static void remote_destroy(void *impl)
{
  ps_remote *r = impl;
  dpt_mpi_chan_close(r->link);
  free(r->workers);
  free(r);
}

static const ps_ops remote_ops = {
    .push = remote_push,
    .pull = remote_pull,
    .abort = remote_abort,
    .get_stats = remote_get_stats,
    .read_velocity = remote_read_velocity,
    .read_params = remote_read_params,
    .destroy = remote_destroy,
};

int ps_remote_create(const dpt_ps_config *cfg, const ps_ops **ops, void **impl, dpt_err *err)
{
  if (cfg->n_workers > PS_MPI_MAX_WORKERS)
    return dpt_err_set(err, DPT_EINPUT, "ps over MPI: %d workers per process: at most %d",
                       cfg->n_workers, PS_MPI_MAX_WORKERS);
  ps_remote *r = calloc(1, sizeof *r);
  if (!r) return dpt_err_set(err, DPT_ENOMEM, "ps over MPI: out of memory");
  r->cfg = *cfg;
  ps_abort_record_init(&r->aborted);
  r->workers = dpt_cache_lines_alloc((size_t)cfg->n_workers, sizeof *r->workers);
  int rc = r->workers ? dpt_mpi_chan_open("ps", cfg->timeout_s, &r->link, err)
                      : dpt_err_set(err, DPT_ENOMEM, "ps over MPI: out of memory");
  if (rc) {
    remote_destroy(r);
    return rc;
  }
  *ops = &remote_ops;
  *impl = r;
  return DPT_OK;
}
