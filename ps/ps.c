/* The parameter server's entry points (dpt/ps.h): checks the config, picks the local server or
 * the remote client (ps/ps_ops.h) and forwards every call to its table. */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "dpt/cache_lines.h"
#include "dpt/cores.h"
#include "ps/ps_ops.h"

struct dpt_ps {
  const ps_ops *vt;
  void *impl;
};

static int check_config(const dpt_ps_config *cfg, const float *init_params, dpt_err *err)
{
  if (cfg->n_workers < 1)
    return dpt_err_set(err, DPT_EINPUT, "ps: %d workers: must be at least 1", cfg->n_workers);
  if (cfg->n_params == 0) return dpt_err_set(err, DPT_EINPUT, "ps: no parameters to serve");
  if (cfg->n_shards < 1 || (size_t)cfg->n_shards > cfg->n_params)
    return dpt_err_set(err, DPT_EINPUT, "ps: %d shards: must be between 1 and %zu (the parameters)",
                       cfg->n_shards, cfg->n_params);
  if (cfg->server_threads < 0 || cfg->server_threads > DPT_PS_MAX_SERVER_THREADS)
    return dpt_err_set(err, DPT_EINPUT, "ps: %d server threads: must be between 1 and %d",
                       cfg->server_threads, DPT_PS_MAX_SERVER_THREADS);
  if (!init_params) return dpt_err_set(err, DPT_EINPUT, "ps: no initial parameters");
  if (cfg->staleness < 0)
    return dpt_err_set(err, DPT_EINPUT, "ps: staleness %d: must be at least 0", cfg->staleness);
  /* The slots hold one gradient per worker, each padded by up to a cache line per shard. */
  size_t line_floats = DPT_CACHE_LINE / sizeof(float);
  size_t per_worker_max = SIZE_MAX / sizeof(float) / (size_t)cfg->n_workers;
  if (cfg->n_params > per_worker_max - (size_t)cfg->n_shards * line_floats)
    return dpt_err_set(err, DPT_EINPUT, "ps: %zu parameters x %d workers: too large",
                       cfg->n_params, cfg->n_workers);
  return DPT_OK;
}

dpt_staleness_text dpt_ps_staleness_text(int staleness)
{
  dpt_staleness_text t;
  if (staleness == DPT_PS_STALENESS_INF) snprintf(t.text, sizeof t.text, "inf");
  else snprintf(t.text, sizeof t.text, "%d", staleness);
  return t;
}

int dpt_ps_server_threads(int requested)
{
  if (requested > 0) return requested;
  int cores = dpt_cores_online();
  return cores > 8 ? 8 : cores;
}

int dpt_ps_create(const dpt_ps_config *cfg, const float *init_params, dpt_ps **out, dpt_err *err)
{
  *out = NULL;
  dpt_ps_config all = *cfg; /* under MPI, process 0's server takes every process's workers */
  if (cfg->procs > 1 && cfg->n_workers > INT_MAX / cfg->procs)
    return dpt_err_set(err, DPT_EINPUT, "ps: %d workers x %d processes: too many",
                       cfg->n_workers, cfg->procs);
  if (cfg->procs > 1) all.n_workers = cfg->n_workers * cfg->procs;
  int rc = check_config(&all, init_params, err);
  if (rc) return rc;
  all.server_threads = dpt_ps_server_threads(all.server_threads);
  dpt_ps *ps = calloc(1, sizeof *ps);
  if (!ps) return dpt_err_set(err, DPT_ENOMEM, "ps: out of memory");
  if (cfg->procs > 1 && cfg->proc_rank > 0)
    rc = ps_remote_create(cfg, &ps->vt, &ps->impl, err);
  else if (cfg->staleness > 0)
    rc = ps_stale_create(&all, cfg->n_workers, init_params, &ps->vt, &ps->impl, err);
  else
    rc = ps_local_create(&all, cfg->n_workers, init_params, &ps->vt, &ps->impl, err);
  if (rc) {
    free(ps);
    return rc;
  }
  *out = ps;
  return DPT_OK;
}

int dpt_ps_push_piped(dpt_ps *ps, int worker, const float *grads, float lr,
                      const dpt_votes *votes, const dpt_ps_pipe *pipe, dpt_err *err)
{
  return ps->vt->push(ps->impl, worker, grads, lr, votes ? *votes : (dpt_votes){0}, pipe, err);
}

int dpt_ps_pull_piped(dpt_ps *ps, int worker, float *params, dpt_ps_round *round,
                      const dpt_ps_pipe *pipe, dpt_err *err)
{
  dpt_ps_round unused;
  return ps->vt->pull(ps->impl, worker, params, round ? round : &unused, pipe, err);
}

int dpt_ps_push(dpt_ps *ps, int worker, const float *grads, float lr, const dpt_votes *votes,
                dpt_err *err)
{
  return dpt_ps_push_piped(ps, worker, grads, lr, votes, NULL, err);
}

int dpt_ps_pull(dpt_ps *ps, int worker, float *params, dpt_ps_round *round, dpt_err *err)
{
  return dpt_ps_pull_piped(ps, worker, params, round, NULL, err);
}

void dpt_ps_abort(dpt_ps *ps, int code, const char *why) { ps->vt->abort(ps->impl, code, why); }

void dpt_ps_get_stats(dpt_ps *ps, dpt_ps_stats *out) { ps->vt->get_stats(ps->impl, out); }

int dpt_ps_read_velocity(dpt_ps *ps, float *out, dpt_err *err)
{
  return ps->vt->read_velocity(ps->impl, out, err);
}

int dpt_ps_read_params(dpt_ps *ps, int worker, float *params, dpt_err *err)
{
  return ps->vt->read_params(ps->impl, worker, params, err);
}

int dpt_ps_drop(dpt_ps *ps, int worker, uint64_t *pushes, dpt_err *err)
{
  if (!ps->vt->drop)
    return dpt_err_set(err, DPT_EINTERNAL,
                       "ps: worker %d: synchronous rounds cannot go on without a worker", worker);
  return ps->vt->drop(ps->impl, worker, pushes, err);
}

int dpt_ps_read_cut(dpt_ps *ps, float *params, float *velocity, uint64_t *clocks, dpt_err *err)
{
  if (!ps->vt->read_cut)
    return dpt_err_set(err, DPT_EINTERNAL,
                       "ps: a cut of the server's state is read with staleness only");
  return ps->vt->read_cut(ps->impl, params, velocity, clocks, err);
}

void dpt_ps_destroy(dpt_ps *ps)
{
  if (!ps) return;
  ps->vt->destroy(ps->impl);
  free(ps);
}
