/* The allreduce strategy: the workers sum their gradients through the communicator, then each
 * applies the same SGD step to its own replica, so the replicas stay identical. The communicator
 * follows the devices (host/comm/comm_group.h): the in-process one over host memory on CPU devices,
 * NCCL over GPU memory on CUDA devices; either way the step runs on the worker's device. */
#include <stdalign.h>
#include <stdlib.h>

#include "dpt/timer.h"
#include "dpt/cache_lines.h"
#include "host/comm/comm_group.h"
#include "host/sync/sync_strategies.h"

/* One worker's handle and optimizer state, on its own cache lines. */
typedef struct ar_worker {
  alignas(DPT_CACHE_LINE) dpt_comm comm;
  dpt_device *dev; /* NULL until attached */
  float *velocity; /* on dev */
} ar_worker;

typedef struct sync_allreduce {
  dpt_comm_group *group;
  ar_worker *workers;
  int n_workers;
  size_t n_params;
  float momentum, weight_decay;
  const float *init_velocity; /* host, or NULL: zeros */
  size_t votes; /* floats after the gradient: DPT_VOTES with dpt_sync_config.votes, else 0 */
} sync_allreduce;

static int ar_attach(void *ctx, int worker, dpt_device *dev, const float *params, dpt_err *err)
{
  sync_allreduce *s = ctx;
  if (worker < 0 || worker >= s->n_workers || s->workers[worker].dev)
    return dpt_err_set(err, DPT_EINTERNAL, "sync allreduce: worker %d: unknown or attached twice",
                       worker);
  size_t bytes = s->n_params * sizeof(float);
  void *velocity = NULL;
  int rc = dpt_dev_alloc(dev, bytes, &velocity, err);
  if (rc) return rc;
  rc = s->init_velocity ? dpt_dev_copy_h2d(dev, velocity, s->init_velocity, bytes, err)
                        : dpt_dev_zero(dev, velocity, bytes, err);
  /* Last: on CUDA devices it creates the NCCL communicator, which undoes itself if it fails. */
  if (!rc) rc = dpt_comm_group_attach(s->group, worker, dev, err);
  if (rc) {
    dpt_dev_free(dev, velocity);
    return rc;
  }
  s->workers[worker].dev = dev;
  s->workers[worker].velocity = velocity;
  return DPT_OK;
}

static int ar_exchange(void *ctx, int worker, float *params, float *grads, float lr,
                       dpt_sync_timing *timing, dpt_err *err)
{
  sync_allreduce *s = ctx;
  if (worker < 0 || worker >= s->n_workers || !s->workers[worker].dev)
    return dpt_err_set(err, DPT_EINTERNAL, "sync allreduce: worker %d: not attached", worker);
  ar_worker *w = &s->workers[worker];
  dpt_err why = {0};
  double t0 = dpt_now(), wait_s = 0;
  /* The communicator reads grads outside the device's stream (as host memory, or on NCCL's own
   * stream): let the backward pass's queued work finish. */
  int rc = dpt_dev_sync(w->dev, &why);
  if (!rc) {
    rc = dpt_comm_allreduce_sum(&w->comm, grads, s->n_params + s->votes, &why);
    wait_s = dpt_comm_group_last_wait_s(s->group, worker);
  }
  /* The summed votes are the same bits on every worker: all skip the step, or none does. */
  float skips = 0;
  if (!rc && s->votes)
    rc = dpt_dev_copy_d2h(w->dev, &skips, grads + s->n_params + DPT_VOTE_SKIP, sizeof skips,
                          &why);
  if (!rc && skips == 0)
    rc = dpt_dev_sgd_step(w->dev, s->n_params, params, grads, w->velocity, lr, s->momentum,
                          s->weight_decay, &why);
  /* Count the queued step as exchange time on every device, as on the CPU (a no-op there). */
  if (!rc) rc = dpt_dev_sync(w->dev, &why);
  if (timing) *timing = (dpt_sync_timing){.comm_s = dpt_now() - t0 - wait_s, .wait_s = wait_s};
  if (!rc) return DPT_OK;
  dpt_comm_abort(&w->comm, rc, why.msg); /* the others stop now instead of timing out */
  return dpt_err_set(err, rc, "%s", why.msg);
}

static void ar_detach(void *ctx, int worker)
{
  sync_allreduce *s = ctx;
  if (worker < 0 || worker >= s->n_workers || !s->workers[worker].dev) return;
  ar_worker *w = &s->workers[worker];
  dpt_comm_group_detach(s->group, worker);
  dpt_dev_free(w->dev, w->velocity);
  w->dev = NULL;
  w->velocity = NULL;
}

static void ar_abort(void *ctx, int code, const char *why)
{
  sync_allreduce *s = ctx;
  dpt_comm_abort(&s->workers[0].comm, code, why);
}

static size_t ar_bytes_per_step(void *ctx)
{
  sync_allreduce *s = ctx;
  return dpt_comm_allreduce_bytes(&s->workers[0].comm, s->n_params);
}

static int ar_read_velocity(void *ctx, int worker, float *out, dpt_err *err)
{
  sync_allreduce *s = ctx;
  if (worker < 0 || worker >= s->n_workers || !s->workers[worker].dev)
    return dpt_err_set(err, DPT_EINTERNAL, "sync allreduce: worker %d: not attached", worker);
  ar_worker *w = &s->workers[worker];
  return dpt_dev_copy_d2h(w->dev, out, w->velocity, s->n_params * sizeof(float), err);
}

static void ar_destroy(void *ctx)
{
  sync_allreduce *s = ctx;
  dpt_comm_group_destroy(s->group);
  free(s->workers);
  free(s);
}

static const dpt_sync_ops allreduce_ops = {
    .name = "allreduce",
    .attach = ar_attach,
    .exchange = ar_exchange,
    .detach = ar_detach,
    .abort = ar_abort,
    .bytes_per_step = ar_bytes_per_step,
    .destroy = ar_destroy,
    .read_velocity = ar_read_velocity,
};

int dpt_sync_allreduce_create(const dpt_sync_config *cfg, dpt_sync *out, dpt_err *err)
{
  sync_allreduce *s = calloc(1, sizeof *s);
  ar_worker *workers = dpt_cache_lines_alloc((size_t)cfg->n_workers, sizeof *workers);
  int rc = s && workers ? DPT_OK : dpt_err_set(err, DPT_ENOMEM, "sync allreduce: out of memory");
  if (!rc)
    rc = dpt_comm_group_create(cfg->device, cfg->n_workers, cfg->procs, cfg->timeout_s, &s->group,
                               err);
  if (rc) {
    free(workers);
    free(s);
    return rc;
  }
  for (int w = 0; w < cfg->n_workers; w++) workers[w].comm = dpt_comm_group_rank(s->group, w);
  s->workers = workers;
  s->n_workers = cfg->n_workers;
  s->n_params = cfg->n_params;
  s->momentum = cfg->momentum;
  s->weight_decay = cfg->weight_decay;
  s->init_velocity = cfg->init_velocity;
  s->votes = cfg->votes ? DPT_VOTES : 0;
  *out = (dpt_sync){.vt = &allreduce_ops, .ctx = s};
  return DPT_OK;
}
