/* Creating, inspecting and destroying the local server (ps/ps_ops.h): the shard layout and every
 * allocation (nothing is allocated once rounds run), and its table. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ps/ps_internal.h"
#include "ps/ps_ops.h"

enum { CACHE_LINE_FLOATS = DPT_CACHE_LINE / sizeof(float) };

static void free_memory(ps_local *ps)
{
  free(ps->params);
  free(ps->velocity);
  free(ps->shards);
  free(ps->workers);
  free(ps->pushed_flags);
  free(ps->slot_store);
  free(ps->ready);
  free(ps->threads);
  free(ps);
}

/* Places every shard and returns the floats one worker's slots take over all shards. */
static size_t lay_out_shards(ps_local *ps)
{
  const dpt_ps_config *c = &ps->cfg;
  size_t slot_floats = 0;
  for (int i = 0; i < c->n_shards; i++) {
    ps_shard *s = &ps->shards[i];
    s->index = i;
    s->off = dpt_ps_shard_start(c->n_params, c->n_shards, i);
    s->len = dpt_ps_shard_start(c->n_params, c->n_shards, i + 1) - s->off;
    s->stride = (s->len + CACHE_LINE_FLOATS - 1) / CACHE_LINE_FLOATS * CACHE_LINE_FLOATS;
    s->pushed = ps->pushed_flags + (size_t)i * (size_t)c->n_workers;
    slot_floats += s->stride;
  }
  return slot_floats;
}

static int allocate(ps_local *ps)
{
  const dpt_ps_config *c = &ps->cfg;
  size_t workers = (size_t)c->n_workers, shards = (size_t)c->n_shards;
  ps->params = malloc(c->n_params * sizeof *ps->params);
  ps->velocity = calloc(c->n_params, sizeof *ps->velocity);
  ps->shards = dpt_cache_aligned_alloc(shards * sizeof *ps->shards);
  ps->workers = dpt_cache_aligned_alloc(workers * sizeof *ps->workers);
  ps->pushed_flags = calloc(shards * workers, sizeof *ps->pushed_flags);
  ps->ready = calloc(shards * (size_t)ps->cfg.server_threads, sizeof *ps->ready);
  ps->threads = calloc((size_t)ps->cfg.server_threads, sizeof *ps->threads);
  if (!ps->params || !ps->velocity || !ps->shards || !ps->workers || !ps->pushed_flags ||
      !ps->ready || !ps->threads)
    return DPT_ENOMEM;
  size_t slot_floats = lay_out_shards(ps);
  ps->slot_store = dpt_cache_aligned_alloc(slot_floats * workers * sizeof *ps->slot_store);
  if (!ps->slot_store) return DPT_ENOMEM;
  float *slots = ps->slot_store;
  for (size_t i = 0; i < shards; i++) {
    ps->shards[i].slots = slots;
    slots += ps->shards[i].stride * workers;
  }
  return DPT_OK;
}

static void init_locks(ps_local *ps)
{
  for (int i = 0; i < ps->cfg.n_shards; i++) {
    pthread_mutex_init(&ps->shards[i].mu, NULL);
    dpt_cond_init_monotonic(&ps->shards[i].cv);
  }
  pthread_mutex_init(&ps->mu, NULL);
  pthread_cond_init(&ps->cv, NULL); /* the server's idle wait has no deadline (ps_server.c) */
}

/* Stops and joins the server threads that run. */
static void stop_server(ps_local *ps)
{
  pthread_mutex_lock(&ps->mu);
  ps->stop = true;
  pthread_cond_broadcast(&ps->cv);
  pthread_mutex_unlock(&ps->mu);
  for (int i = 0; i < ps->started; i++) pthread_join(ps->threads[i], NULL);
  ps->started = 0;
}

static void destroy_locks(ps_local *ps)
{
  for (int i = 0; i < ps->cfg.n_shards; i++) {
    pthread_mutex_destroy(&ps->shards[i].mu);
    pthread_cond_destroy(&ps->shards[i].cv);
  }
  pthread_mutex_destroy(&ps->mu);
  pthread_cond_destroy(&ps->cv);
}

static void local_get_stats(void *impl, dpt_ps_stats *out)
{
  ps_local *ps = impl;
  pthread_mutex_lock(&ps->mu);
  /* Every shard is applied once per round, and no shard starts round r+1 before all finished r. */
  out->rounds = ps->shards_applied / (uint64_t)ps->cfg.n_shards;
  out->server_busy_s = ps->busy_s;
  /* Shard 0 may have finished a round the others are still applying. */
  uint64_t skipped = ps->rounds_skipped < out->rounds ? ps->rounds_skipped : out->rounds;
  uint64_t workers = (uint64_t)ps->cfg.n_workers;
  out->pushes_applied = (out->rounds - skipped) * workers;
  out->pushes_dropped = skipped * workers;
  pthread_mutex_unlock(&ps->mu);
}

static int local_read_velocity(void *impl, float *out, dpt_err *err)
{
  ps_local *ps = impl;
  memcpy(out, ps->velocity, ps->cfg.n_params * sizeof *out);
  return DPT_OK;
}

/* Between rounds (dpt/ps.h): nobody writes the parameters then. */
static int local_read_params(void *impl, int worker, float *out, dpt_err *err)
{
  ps_local *ps = impl;
  memcpy(out, ps->params, ps->cfg.n_params * sizeof *out);
  return DPT_OK;
}

static void local_destroy(void *impl)
{
  ps_local *ps = impl;
  ps_mpi_serve_stop(ps->serve); /* first: its threads may be pulling from the server */
  ps->serve = NULL;
  stop_server(ps);
  destroy_locks(ps);
  free_memory(ps);
}

static const ps_ops local_ops = {
    .push = ps_local_push,
    .pull = ps_local_pull,
    .abort = ps_local_abort,
    .get_stats = local_get_stats,
    .read_velocity = local_read_velocity,
    .read_params = local_read_params,
    .destroy = local_destroy,
};

int ps_local_create(const dpt_ps_config *cfg, int local_workers, const float *init_params,
                    const ps_ops **ops, void **impl, dpt_err *err)
{
  ps_local *ps = calloc(1, sizeof *ps);
  if (!ps) return dpt_err_set(err, DPT_ENOMEM, "ps: out of memory");
  ps->cfg = *cfg;
  ps->workers_per_proc = local_workers;
  if (allocate(ps)) {
    free_memory(ps);
    return dpt_err_set(err, DPT_ENOMEM, "ps: out of memory for %zu parameters x %d workers",
                       cfg->n_params, local_workers);
  }
  memcpy(ps->params, init_params, cfg->n_params * sizeof *ps->params);
  if (cfg->init_velocity)
    memcpy(ps->velocity, cfg->init_velocity, cfg->n_params * sizeof *ps->velocity);
  init_locks(ps);
  ps_abort_record_init(&ps->aborted);
  while (ps->started < ps->cfg.server_threads &&
         pthread_create(&ps->threads[ps->started], NULL, ps_server_main, ps) == 0)
    ps->started++;
  if (ps->started < ps->cfg.server_threads) {
    int failed = ps->started + 1, wanted = ps->cfg.server_threads;
    stop_server(ps);
    destroy_locks(ps);
    free_memory(ps);
    return dpt_err_set(err, DPT_ENOMEM, "ps: cannot start server thread %d of %d", failed,
                       wanted);
  }
  int rc = cfg->procs > 1
               ? ps_mpi_serve_start(&local_ops, ps, &ps->cfg, local_workers, &ps->serve, err)
               : DPT_OK;
  if (rc) {
    local_destroy(ps);
    return rc;
  }
  *ops = &local_ops;
  *impl = ps;
  return DPT_OK;
}
