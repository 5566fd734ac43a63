/* The allreduce strategy: the workers sum their gradients through the communicator, then each
 * applies the same SGD step to its own replica, so the replicas stay identical. The communicator
 * follows the devices (host/comm/comm_group.h): the in-process one over host memory on CPU devices,
 * NCCL over GPU memory on CUDA devices; either way the step runs on the worker's device.
 *
 * The votes ride in the same collective: each worker's gradient buffer (its own, handed out by
 * attach) holds its tally after the gradient (dpt/votes.h), so the sum leaves every worker's
 * counts there, on the device, where the step reads the summed skip votes. On CUDA the sum is
 * queued on the device's stream behind the backward pass (dpt_comm_allreduce_sum_queued) and
 * the step behind it: the exchange neither waits for the device nor meets the other workers. */
#include <stdalign.h>
#include <stdlib.h>

#include "dpt/timer.h"
#include "dpt/cache_lines.h"
#include "host/comm/comm_group.h"
#include "host/sync/sync_strategies.h"

/* One worker's handle, buffers and optimizer state, on its own cache lines. */
typedef struct ar_worker {
  alignas(DPT_CACHE_LINE) dpt_comm comm;
  dpt_device *dev; /* NULL until attached */
  float *grads;    /* on dev: n_params, then DPT_TALLY_FLOATS */
  float *velocity; /* on dev */
  float *tally;    /* host (pinned): DPT_TALLY_SUMMED, host votes' and counts' staging */
} ar_worker;

typedef struct sync_allreduce {
  dpt_comm_group *group;
  ar_worker *workers;
  size_t n_params;
  float momentum, weight_decay;
  const float *init_velocity; /* host, or NULL: zeros */
} sync_allreduce;

static void free_buffers(ar_worker *w, dpt_device *dev)
{
  dpt_dev_free(dev, w->grads);
  dpt_dev_free(dev, w->velocity);
  if (w->tally) dpt_dev_host_free(dev, w->tally);
  w->grads = w->velocity = w->tally = NULL;
}

static int ar_attach(void *ctx, int worker, dpt_device *dev, const float *params, float **grads,
                     dpt_err *err)
{
  sync_allreduce *s = ctx;
  ar_worker *w = &s->workers[worker];
  size_t bytes = s->n_params * sizeof(float), tally_bytes = DPT_TALLY_FLOATS * sizeof(float);
  int rc = dpt_dev_alloc(dev, bytes + tally_bytes, (void **)&w->grads, err);
  if (!rc) rc = dpt_dev_alloc(dev, bytes, (void **)&w->velocity, err);
  if (!rc) rc = dpt_dev_host_alloc(dev, tally_bytes, (void **)&w->tally, err);
  if (!rc) rc = dpt_dev_zero(dev, w->grads + s->n_params, tally_bytes, err); /* no votes yet */
  if (!rc)
    rc = s->init_velocity ? dpt_dev_copy_h2d(dev, w->velocity, s->init_velocity, bytes, err)
                          : dpt_dev_zero(dev, w->velocity, bytes, err);
  /* Last: on CUDA devices it creates the NCCL communicator, which undoes itself if it fails. */
  if (!rc) rc = dpt_comm_group_attach(s->group, worker, dev, err);
  if (rc) {
    free_buffers(w, dev);
    return rc;
  }
  w->dev = dev;
  *grads = w->grads;
  return DPT_OK;
}

static int ar_exchange(void *ctx, int worker, float *params, float lr, const dpt_votes *mine,
                       dpt_votes *counts, const dpt_ledger_step *commit, bool settles,
                       dpt_sync_timing *timing, dpt_err *err)
{
  sync_allreduce *s = ctx;
  ar_worker *w = &s->workers[worker];
  float *tally = w->grads + s->n_params;
  size_t summed_bytes = DPT_TALLY_SUMMED * sizeof(float);
  dpt_err why = {0};
  double t0 = dpt_now(), wait_s = 0;
  int rc = DPT_OK;
  if (mine) { /* votes from the host: staged, and waited for, as the staging is reused */
    w->tally[DPT_TALLY_SKIP] = (float)mine->skip;
    w->tally[DPT_TALLY_STOP] = (float)mine->stop;
    rc = dpt_dev_copy_h2d(w->dev, tally, w->tally, summed_bytes, &why);
    if (!rc) rc = dpt_dev_sync(w->dev, &why);
  }
  if (!rc) {
    rc = dpt_comm_allreduce_sum_queued(&w->comm, w->grads, s->n_params + DPT_TALLY_SUMMED,
                                       !settles, &why);
    wait_s = dpt_comm_group_last_wait_s(s->group, worker);
  }
  /* The summed votes are the same bits on every worker: all skip the step, or none does. */
  if (!rc && commit)
    rc = dpt_dev_sgd_step_commit(w->dev, s->n_params, params, w->grads, w->velocity, lr,
                                 s->momentum, s->weight_decay, tally, commit, &why);
  else if (!rc)
    rc = dpt_dev_sgd_step(w->dev, s->n_params, params, w->grads, w->velocity, lr, s->momentum,
                          s->weight_decay, tally + DPT_TALLY_SKIP, &why);
  if (!rc && counts) { /* waits for the queued sum and step */
    rc = dpt_dev_copy_d2h(w->dev, w->tally, tally, summed_bytes, &why);
    if (!rc)
      *counts = (dpt_votes){.skip = (int32_t)w->tally[DPT_TALLY_SKIP],
                            .stop = (int32_t)w->tally[DPT_TALLY_STOP]};
  }
  if (timing) *timing = (dpt_sync_timing){.comm_s = dpt_now() - t0 - wait_s, .wait_s = wait_s};
  if (!rc) return DPT_OK;
  dpt_comm_abort(&w->comm, rc, why.msg); /* the others stop now instead of timing out */
  return dpt_err_set(err, rc, "%s", why.msg);
}

static int ar_settle(void *ctx, int worker, dpt_err *err)
{
  sync_allreduce *s = ctx;
  return dpt_comm_settle(&s->workers[worker].comm, err);
}

static void ar_detach(void *ctx, int worker)
{
  sync_allreduce *s = ctx;
  ar_worker *w = &s->workers[worker];
  dpt_comm_group_detach(s->group, worker);
  free_buffers(w, w->dev);
  w->dev = NULL;
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
    .settle = ar_settle,
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
  s->n_params = cfg->n_params;
  s->momentum = cfg->momentum;
  s->weight_decay = cfg->weight_decay;
  s->init_velocity = cfg->init_velocity;
  *out = (dpt_sync){.vt = &allreduce_ops, .ctx = s};
  return DPT_OK;
}
