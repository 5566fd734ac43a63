/* The parameter-server strategy: each worker copies its gradient to pinned host memory, pushes it
 * to the server with its votes, pulls the stepped parameters and the vote counts, and copies the
 * parameters back to its replica, shard by shard (each copy overlaps the server's work on the
 * shard before it). The votes travel as host values beside the push and the pull
 * (over MPI too, ps/ps_mpi.h): the worker's tally after its gradient (dpt/votes.h) comes to the host
 * ahead of the gradient's first chunk, and the counts go back into it after the parameters. A CPU
 * device's memory is host memory: its worker pushes its gradient buffer and pulls into its replica
 * directly, saving two copies of the model per step. */
#include <stdalign.h>
#include <stdlib.h>

#include "dpt/ps.h"
#include "dpt/timer.h"
#include "dpt/cache_lines.h"
#include "host/sync/sync_strategies.h"

/* One worker's gradient buffer and pinned staging buffers (none on a CPU device), on its own
 * cache lines. */
typedef struct ps_stage {
  alignas(DPT_CACHE_LINE) dpt_device *dev; /* NULL until attached */
  float *grads;       /* on dev: n_params, then DPT_TALLY_FLOATS */
  float *host_grads;  /* pinned, or grads itself on a CPU device: as grads */
  float *host_params; /* pinned, or NULL on a CPU device (the replica's are used): n_params,
                       * then the counts' staging */
} ps_stage;

static bool is_host_memory(const dpt_device *dev) { return dev->kind == DPT_DEVICE_CPU; }

typedef struct sync_ps {
  dpt_ps *ps;
  ps_stage *workers;
  size_t n_params;
  int shards; /* the server's */
  int staleness;
} sync_ps;

static void free_stage(ps_stage *w)
{
  if (w->host_grads && w->host_grads != w->grads) dpt_dev_host_free(w->dev, w->host_grads);
  if (w->host_params) dpt_dev_host_free(w->dev, w->host_params);
  dpt_dev_free(w->dev, w->grads);
  *w = (ps_stage){0};
}

static int ps_attach(void *ctx, int worker, dpt_device *dev, const float *params, float **grads,
                     dpt_err *err)
{
  sync_ps *s = ctx;
  ps_stage *w = &s->workers[worker];
  size_t bytes = (s->n_params + DPT_TALLY_FLOATS) * sizeof(float);
  *w = (ps_stage){.dev = dev};
  int rc = dpt_dev_alloc(dev, bytes, (void **)&w->grads, err);
  if (!rc) rc = dpt_dev_zero(dev, w->grads + s->n_params, DPT_TALLY_FLOATS * sizeof(float), err);
  if (!rc && is_host_memory(dev)) w->host_grads = w->grads;
  if (!rc && !is_host_memory(dev)) {
    rc = dpt_dev_host_alloc(dev, bytes, (void **)&w->host_grads, err);
    if (!rc) rc = dpt_dev_host_alloc(dev, bytes, (void **)&w->host_params, err);
  }
  if (rc) {
    free_stage(w);
    return rc;
  }
  *grads = w->grads;
  return DPT_OK;
}

/* A CUDA worker's copies of one exchange, shard by shard (dpt_ps_pipe): the tally and the first
 * chunk of the gradient come to the host behind mark 0, each later chunk behind its own mark, so
 * the push of a chunk's shards overlaps the copies of the chunks after it; each pulled shard's
 * upload is queued as soon as it lands. A chunk is a run of whole shards (chunks: at most
 * DPT_DEV_MARKS, fewer with fewer shards). */
typedef struct ps_pipe_state {
  ps_stage *w;
  float *params; /* the replica's, on the device */
  size_t n;
  int shards, chunks;
  int on_host; /* chunks waited for */
} ps_pipe_state;

/* The first parameter of chunk j (j = chunks: n). */
static size_t chunk_start(const ps_pipe_state *p, int j)
{
  int first_shard = (int)dpt_ps_shard_start((size_t)p->shards, p->chunks, j);
  return dpt_ps_shard_start(p->n, p->shards, first_shard);
}

static int queue_gradient_copies(ps_pipe_state *p, dpt_err *err)
{
  ps_stage *w = p->w;
  size_t summed_bytes = DPT_TALLY_SUMMED * sizeof(float);
  int rc = dpt_dev_copy_d2h_queued(w->dev, w->host_grads + p->n, w->grads + p->n, summed_bytes,
                                   err);
  for (int j = 0; j < p->chunks && !rc; j++) {
    size_t off = chunk_start(p, j), len = chunk_start(p, j + 1) - off;
    rc = dpt_dev_copy_d2h_queued(w->dev, w->host_grads + off, w->grads + off,
                                 len * sizeof(float), err);
    if (!rc) rc = dpt_dev_mark(w->dev, j, err);
  }
  return rc;
}

/* Waits for the chunks that hold [off, off + len): the push reads them next. */
static int gradient_ready(void *ctx, size_t off, size_t len, dpt_err *err)
{
  ps_pipe_state *p = ctx;
  int rc = DPT_OK;
  while (!rc && p->on_host < p->chunks && chunk_start(p, p->on_host) < off + len)
    rc = dpt_dev_wait_mark(p->w->dev, p->on_host++, err);
  return rc;
}

/* Queues the upload of the pulled [off, off + len). */
static int params_arrived(void *ctx, size_t off, size_t len, dpt_err *err)
{
  ps_pipe_state *p = ctx;
  return dpt_dev_copy_h2d(p->w->dev, p->params + off, p->w->host_params + off,
                          len * sizeof(float), err);
}

static int ps_exchange(void *ctx, int worker, float *params, float lr, const dpt_votes *mine,
                       dpt_votes *counts, const dpt_ledger_step *commit, bool settles,
                       dpt_sync_timing *timing, dpt_err *err)
{
  sync_ps *s = ctx;
  ps_stage *w = &s->workers[worker];
  size_t n = s->n_params;
  size_t summed_bytes = DPT_TALLY_SUMMED * sizeof(float);
  dpt_err why = {0};
  double t0 = dpt_now(), wait_s = 0;
  bool direct = is_host_memory(w->dev);
  ps_pipe_state pipe_state = {.w = w, .params = params, .n = n, .shards = s->shards,
                              .chunks = s->shards < DPT_DEV_MARKS ? s->shards : DPT_DEV_MARKS};
  dpt_ps_pipe pipe = {.ready = gradient_ready, .arrived = params_arrived, .ctx = &pipe_state};
  const dpt_ps_pipe *piped = direct ? NULL : &pipe;
  /* Mark 0 follows the device's queued work, the previous exchange's uploads from w->host_params
   * included, so once the tally is read the pull below may overwrite the staging buffer (even a
   * push that reads no shard, a stale server's dropped one, waits for it). */
  int rc = direct ? DPT_OK : queue_gradient_copies(&pipe_state, &why);
  if (!rc && !direct) rc = gradient_ready(&pipe_state, 0, 1, &why);
  const float *tally = w->host_grads + n;
  dpt_votes votes = mine ? *mine
                         : (dpt_votes){.skip = (int32_t)tally[DPT_TALLY_SKIP],
                                       .stop = (int32_t)tally[DPT_TALLY_STOP]};
  if (!rc) rc = dpt_ps_push_piped(s->ps, worker, w->host_grads, lr, &votes, piped, &why);
  dpt_ps_round round = {0};
  if (!rc) {
    rc = dpt_ps_pull_piped(s->ps, worker, direct ? params : w->host_params, &round, piped, &why);
    wait_s = round.wait_s;
  }
  if (!rc && counts) *counts = round.votes;
  /* The counts into the device's tally, where the step's ledger reads them. */
  float *counted = direct ? w->grads + n : w->host_params + n;
  counted[DPT_TALLY_SKIP] = (float)round.votes.skip;
  counted[DPT_TALLY_STOP] = (float)round.votes.stop;
  if (!rc && !direct) rc = dpt_dev_copy_h2d(w->dev, w->grads + n, counted, summed_bytes, &why);
  if (!rc && commit)
    rc = dpt_dev_ledger_commit(w->dev, commit->ledger, w->grads + n, commit->rows,
                               commit->row_loss, commit->row_argmax, commit->labels, commit->step,
                               commit->max_skips, commit->nonfinite_stop, &why);
  if (timing)
    *timing = (dpt_sync_timing){.comm_s = dpt_now() - t0 - wait_s, .wait_s = wait_s,
                                .staleness = round.staleness};
  if (!rc) return DPT_OK;
  dpt_ps_abort(s->ps, rc, why.msg); /* the others stop now instead of timing out */
  return dpt_err_set(err, rc, "%s", why.msg);
}

static void ps_detach(void *ctx, int worker)
{
  sync_ps *s = ctx;
  free_stage(&s->workers[worker]);
}

static void ps_abort(void *ctx, int code, const char *why)
{
  sync_ps *s = ctx;
  dpt_ps_abort(s->ps, code, why);
}

/* Push n floats, pull n floats. */
static size_t ps_bytes_per_step(void *ctx)
{
  sync_ps *s = ctx;
  return 2 * s->n_params * sizeof(float);
}

static int ps_read_velocity(void *ctx, int worker, float *out, dpt_err *err)
{
  sync_ps *s = ctx;
  return dpt_ps_read_velocity(s->ps, out, err);
}

/* Synchronous rounds keep every replica equal to the server's parameters: nothing to do. */
static int ps_adopt_shared(void *ctx, int worker, float *params, dpt_err *err)
{
  sync_ps *s = ctx;
  if (s->staleness == 0) return DPT_OK;
  ps_stage *w = &s->workers[worker];
  bool direct = is_host_memory(w->dev);
  /* The last exchange's upload from the staging buffer may still be queued. */
  int rc = direct ? DPT_OK : dpt_dev_sync(w->dev, err);
  if (!rc) rc = dpt_ps_read_params(s->ps, worker, direct ? params : w->host_params, err);
  if (!rc && !direct)
    rc = dpt_dev_copy_h2d(w->dev, params, w->host_params, s->n_params * sizeof(float), err);
  return rc ? rc : dpt_dev_sync(w->dev, err);
}

static int ps_drop(void *ctx, int worker, uint64_t *pushes, dpt_err *err)
{
  sync_ps *s = ctx;
  return dpt_ps_drop(s->ps, worker, pushes, err);
}

static int ps_read_cut(void *ctx, float *params, float *velocity, uint64_t *clocks, dpt_err *err)
{
  sync_ps *s = ctx;
  return dpt_ps_read_cut(s->ps, params, velocity, clocks, err);
}

static void ps_get_stats(void *ctx, dpt_ps_stats *out)
{
  sync_ps *s = ctx;
  dpt_ps_get_stats(s->ps, out);
}

static void ps_destroy(void *ctx)
{
  sync_ps *s = ctx;
  dpt_ps_destroy(s->ps);
  free(s->workers);
  free(s);
}

static const dpt_sync_ops ps_ops = {
    .name = "ps",
    .attach = ps_attach,
    .exchange = ps_exchange,
    .detach = ps_detach,
    .abort = ps_abort,
    .bytes_per_step = ps_bytes_per_step,
    .destroy = ps_destroy,
    .read_velocity = ps_read_velocity,
    .adopt_shared = ps_adopt_shared,
    .drop = ps_drop,
    .read_cut = ps_read_cut,
    .get_ps_stats = ps_get_stats,
};

int dpt_sync_ps_create(const dpt_sync_config *cfg, dpt_sync *out, dpt_err *err)
{
  sync_ps *s = calloc(1, sizeof *s);
  ps_stage *workers = dpt_cache_lines_alloc((size_t)cfg->n_workers, sizeof *workers);
  dpt_ps_config pc = {.n_params = cfg->n_params,
                      .n_workers = cfg->n_workers,
                      .n_shards = cfg->ps_shards,
                      .server_threads = cfg->ps_threads,
                      .momentum = cfg->momentum,
                      .weight_decay = cfg->weight_decay,
                      .timeout_s = cfg->timeout_s,
                      .init_velocity = cfg->init_velocity,
                      .on_apply = cfg->ps_on_apply,
                      .on_apply_ctx = cfg->ps_on_apply_ctx,
                      .procs = cfg->procs,
                      .proc_rank = cfg->proc_rank,
                      .staleness = cfg->staleness,
                      .on_late = cfg->on_late,
                      .on_late_ctx = cfg->on_late_ctx,
                      .stop_after_dropped = cfg->ps_stop_after_dropped};
  int rc = s && workers ? DPT_OK : dpt_err_set(err, DPT_ENOMEM, "sync ps: out of memory");
  if (!rc) rc = dpt_ps_create(&pc, cfg->init_params, &s->ps, err);
  if (rc) {
    free(workers);
    free(s);
    return rc;
  }
  s->workers = workers;
  s->n_params = cfg->n_params;
  s->shards = cfg->ps_shards;
  s->staleness = cfg->staleness;
  *out = (dpt_sync){.vt = &ps_ops, .ctx = s};
  return DPT_OK;
}
