/* Picks the strategy and forwards the dpt_sync_* calls to its table. */
#include "host/sync/sync_strategies.h"

int dpt_sync_create(const dpt_sync_config *cfg, dpt_sync *out, dpt_err *err)
{
  *out = (dpt_sync){0};
  if (cfg->n_workers < 1)
    return dpt_err_set(err, DPT_EINPUT, "sync: %d workers: must be at least 1", cfg->n_workers);
  if (cfg->n_params == 0) return dpt_err_set(err, DPT_EINPUT, "sync: no parameters to exchange");
  switch (cfg->strategy) {
  case DPT_STRATEGY_ALLREDUCE: return dpt_sync_allreduce_create(cfg, out, err);
  case DPT_STRATEGY_PS: return dpt_sync_ps_create(cfg, out, err);
  }
  return dpt_err_set(err, DPT_EINPUT, "sync: unknown strategy %d", (int)cfg->strategy);
}

int dpt_sync_attach(dpt_sync *s, int worker, dpt_device *dev, const float *params, float **grads,
                    dpt_err *err)
{
  return s->vt->attach(s->ctx, worker, dev, params, grads, err);
}

int dpt_sync_exchange(dpt_sync *s, int worker, float *params, float lr, const dpt_votes *mine,
                      dpt_votes *counts, dpt_sync_timing *timing, dpt_err *err)
{
  return s->vt->exchange(s->ctx, worker, params, lr, mine, counts, timing, err);
}

void dpt_sync_detach(dpt_sync *s, int worker) { s->vt->detach(s->ctx, worker); }

void dpt_sync_abort(dpt_sync *s, int code, const char *why) { s->vt->abort(s->ctx, code, why); }

size_t dpt_sync_bytes_per_step(dpt_sync *s) { return s->vt->bytes_per_step(s->ctx); }

int dpt_sync_read_velocity(dpt_sync *s, int worker, float *out, dpt_err *err)
{
  return s->vt->read_velocity(s->ctx, worker, out, err);
}

void dpt_sync_destroy(dpt_sync *s)
{
  if (!s->vt) return;
  s->vt->destroy(s->ctx);
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
