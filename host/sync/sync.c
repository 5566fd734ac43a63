/* Picks the strategy and forwards the dpt_sync_* calls to its table, for workers that exist and
 * are attached. */
#include "host/sync/sync_strategies.h"

#include <stdlib.h>

int dpt_sync_create(const dpt_sync_config *cfg, dpt_sync *out, dpt_err *err)
{
  *out = (dpt_sync){0};
  if (cfg->staleness != 0 && cfg->strategy != DPT_STRATEGY_PS)
    return dpt_err_set(err, DPT_EINPUT, "sync: staleness %d needs the ps strategy",
                       cfg->staleness);
  if (cfg->n_workers < 1)
    return dpt_err_set(err, DPT_EINPUT, "sync: %d workers: must be at least 1", cfg->n_workers);
  if (cfg->n_params == 0) return dpt_err_set(err, DPT_EINPUT, "sync: no parameters to exchange");
  bool *attached = calloc((size_t)cfg->n_workers, sizeof *attached);
  if (!attached) return dpt_err_set(err, DPT_ENOMEM, "sync: out of memory");
  int rc = DPT_OK;
  switch (cfg->strategy) {
  case DPT_STRATEGY_ALLREDUCE: rc = dpt_sync_allreduce_create(cfg, out, err); break;
  case DPT_STRATEGY_PS: rc = dpt_sync_ps_create(cfg, out, err); break;
  default: rc = dpt_err_set(err, DPT_EINPUT, "sync: unknown strategy %d", (int)cfg->strategy);
  }
  if (rc) {
    free(attached);
    return rc;
  }
  out->n_workers = cfg->n_workers;
  out->attached = attached;
  return DPT_OK;
}

static bool is_attached(const dpt_sync *s, int worker)
{
  return worker >= 0 && worker < s->n_workers && s->attached[worker];
}

static int not_attached(const dpt_sync *s, int worker, dpt_err *err)
{
  return dpt_err_set(err, DPT_EINTERNAL, "sync %s: worker %d: not attached", s->vt->name, worker);
}

int dpt_sync_attach(dpt_sync *s, int worker, dpt_device *dev, const float *params, float **grads,
                    dpt_err *err)
{
  if (worker < 0 || worker >= s->n_workers || s->attached[worker])
    return dpt_err_set(err, DPT_EINTERNAL, "sync %s: worker %d: unknown or attached twice",
                       s->vt->name, worker);
  int rc = s->vt->attach(s->ctx, worker, dev, params, grads, err);
  if (!rc) s->attached[worker] = true;
  return rc;
}

int dpt_sync_exchange(dpt_sync *s, int worker, float *params, float lr, const dpt_votes *mine,
                      dpt_votes *counts, const dpt_ledger_step *commit, bool settles,
                      dpt_sync_timing *timing, dpt_err *err)
{
  if (!is_attached(s, worker)) return not_attached(s, worker, err);
  return s->vt->exchange(s->ctx, worker, params, lr, mine, counts, commit, settles, timing, err);
}

int dpt_sync_settle(dpt_sync *s, int worker, dpt_err *err)
{
  if (!is_attached(s, worker)) return not_attached(s, worker, err);
  return s->vt->settle ? s->vt->settle(s->ctx, worker, err) : DPT_OK;
}

void dpt_sync_detach(dpt_sync *s, int worker)
{
  if (!is_attached(s, worker)) return;
  s->vt->detach(s->ctx, worker);
  s->attached[worker] = false;
}

void dpt_sync_abort(dpt_sync *s, int code, const char *why) { s->vt->abort(s->ctx, code, why); }

size_t dpt_sync_bytes_per_step(dpt_sync *s) { return s->vt->bytes_per_step(s->ctx); }

int dpt_sync_read_velocity(dpt_sync *s, int worker, float *out, dpt_err *err)
{
  if (!is_attached(s, worker)) return not_attached(s, worker, err);
  return s->vt->read_velocity(s->ctx, worker, out, err);
}

int dpt_sync_adopt_shared(dpt_sync *s, int worker, float *params, dpt_err *err)
{
  if (!is_attached(s, worker)) return not_attached(s, worker, err);
  return s->vt->adopt_shared ? s->vt->adopt_shared(s->ctx, worker, params, err) : DPT_OK;
}

int dpt_sync_drop(dpt_sync *s, int worker, uint64_t *pushes, dpt_err *err)
{
  if (worker < 0 || worker >= s->n_workers)
    return dpt_err_set(err, DPT_EINTERNAL, "sync %s: worker %d: unknown", s->vt->name, worker);
  if (!s->vt->drop)
    return dpt_err_set(err, DPT_EINTERNAL, "sync %s: cannot go on without worker %d",
                       s->vt->name, worker);
  return s->vt->drop(s->ctx, worker, pushes, err);
}

int dpt_sync_read_cut(dpt_sync *s, float *params, float *velocity, uint64_t *clocks,
                      dpt_err *err)
{
  if (!s->vt->read_cut)
    return dpt_err_set(err, DPT_EINTERNAL, "sync %s: no server state to cut", s->vt->name);
  return s->vt->read_cut(s->ctx, params, velocity, clocks, err);
}

bool dpt_sync_ps_stats(const dpt_sync *s, dpt_ps_stats *out)
{
  *out = (dpt_ps_stats){0};
  if (!s->vt || !s->vt->get_ps_stats) return false;
  s->vt->get_ps_stats(s->ctx, out);
  return true;
}

void dpt_sync_destroy(dpt_sync *s)
{
  if (!s->vt) return;
  s->vt->destroy(s->ctx);
  free(s->attached);
  *s = (dpt_sync){0};
}

const char *dpt_strategy_name(dpt_strategy s)
{
  switch (s) {
  case DPT_STRATEGY_ALLREDUCE: return "allreduce";
  case DPT_STRATEGY_PS: return "ps";
  }
  return "unknown";
}
