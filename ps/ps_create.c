/* Creating, inspecting and destroying the parameter server: config checks, the shard layout and
 * every allocation (nothing is allocated once rounds run). */
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dpt/cores.h"

#include "ps/ps_mpi.h"

enum { CACHE_LINE_FLOATS = 16 };

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
  /* The slots hold one gradient per worker, each padded by up to a cache line per shard. */
  size_t per_worker_max = SIZE_MAX / sizeof(float) / (size_t)cfg->n_workers;
  if (cfg->n_params > per_worker_max - (size_t)cfg->n_shards * CACHE_LINE_FLOATS)
    return dpt_err_set(err, DPT_EINPUT, "ps: %zu parameters x %d workers: too large",
                       cfg->n_params, cfg->n_workers);
  return DPT_OK;
}

/* Shard s holds [n*s/K, n*(s+1)/K): balanced, never empty since K <= n. */
static size_t shard_start(size_t n, int n_shards, int s)
{
  return n * (size_t)s / (size_t)n_shards;
}

/* Cache-line-aligned so workers writing neighbouring slots never share a line. */
void *ps_alloc_aligned(size_t bytes)
{
  size_t rounded = (bytes + 63) / 64 * 64;
  void *p = aligned_alloc(64, rounded ? rounded : 64);
  if (p) memset(p, 0, rounded);
  return p;
}

static void init_cond_monotonic(pthread_cond_t *cv)
{
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* timeouts immune to wall-clock changes */
  pthread_cond_init(cv, &ca);
  pthread_condattr_destroy(&ca);
}

static void free_memory(dpt_ps *ps)
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
static size_t lay_out_shards(dpt_ps *ps)
{
  const dpt_ps_config *c = &ps->cfg;
  size_t slot_floats = 0;
  for (int i = 0; i < c->n_shards; i++) {
    ps_shard *s = &ps->shards[i];
    s->index = i;
    s->off = shard_start(c->n_params, c->n_shards, i);
    s->len = shard_start(c->n_params, c->n_shards, i + 1) - s->off;
    s->stride = (s->len + CACHE_LINE_FLOATS - 1) / CACHE_LINE_FLOATS * CACHE_LINE_FLOATS;
    s->pushed = ps->pushed_flags + (size_t)i * (size_t)c->n_workers;
    slot_floats += s->stride;
  }
  return slot_floats;
}

static int allocate(dpt_ps *ps)
{
  const dpt_ps_config *c = &ps->cfg;
  size_t workers = (size_t)c->n_workers, shards = (size_t)c->n_shards;
  ps->params = malloc(c->n_params * sizeof *ps->params);
  ps->velocity = calloc(c->n_params, sizeof *ps->velocity);
  ps->shards = ps_alloc_aligned(shards * sizeof *ps->shards);
  ps->workers = ps_alloc_aligned(workers * sizeof *ps->workers);
  ps->pushed_flags = calloc(shards * workers, sizeof *ps->pushed_flags);
  ps->ready = calloc(shards * (size_t)ps->slices, sizeof *ps->ready);
  ps->threads = calloc((size_t)ps->slices, sizeof *ps->threads);
  if (!ps->params || !ps->velocity || !ps->shards || !ps->workers || !ps->pushed_flags ||
      !ps->ready || !ps->threads)
    return DPT_ENOMEM;
  size_t slot_floats = lay_out_shards(ps);
  ps->slot_store = ps_alloc_aligned(slot_floats * workers * sizeof *ps->slot_store);
  if (!ps->slot_store) return DPT_ENOMEM;
  float *slots = ps->slot_store;
  for (size_t i = 0; i < shards; i++) {
    ps->shards[i].slots = slots;
    slots += ps->shards[i].stride * workers;
  }
  return DPT_OK;
}

static void init_locks(dpt_ps *ps)
{
  for (int i = 0; i < ps->cfg.n_shards; i++) {
    pthread_mutex_init(&ps->shards[i].mu, NULL);
    init_cond_monotonic(&ps->shards[i].cv);
  }
  pthread_mutex_init(&ps->mu, NULL);
  pthread_cond_init(&ps->cv, NULL); /* the server's idle wait has no deadline (ps_server.c) */
}

/* Stops and joins the server threads that run. */
static void stop_server(dpt_ps *ps)
{
  pthread_mutex_lock(&ps->mu);
  ps->stop = true;
  pthread_cond_broadcast(&ps->cv);
  pthread_mutex_unlock(&ps->mu);
  for (int i = 0; i < ps->started; i++) pthread_join(ps->threads[i], NULL);
  ps->started = 0;
}

static void destroy_locks(dpt_ps *ps)
{
  for (int i = 0; i < ps->cfg.n_shards; i++) {
    pthread_mutex_destroy(&ps->shards[i].mu);
    pthread_cond_destroy(&ps->shards[i].cv);
  }
  pthread_mutex_destroy(&ps->mu);
  pthread_cond_destroy(&ps->cv);
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
  if (cfg->procs > 1 && cfg->proc_rank > 0) return ps_mpi_remote_create(cfg, out, err);
  dpt_ps *ps = calloc(1, sizeof *ps);
  if (!ps) return dpt_err_set(err, DPT_ENOMEM, "ps: out of memory");
  ps->cfg = all;
  ps->group = cfg->n_workers;
  ps->slices = cfg->server_threads > 0 ? cfg->server_threads : dpt_ps_default_server_threads();
  if (allocate(ps)) {
    free_memory(ps);
    return dpt_err_set(err, DPT_ENOMEM, "ps: out of memory for %zu parameters x %d workers",
                       cfg->n_params, cfg->n_workers);
  }
  memcpy(ps->params, init_params, cfg->n_params * sizeof *ps->params);
  if (cfg->init_velocity)
    memcpy(ps->velocity, cfg->init_velocity, cfg->n_params * sizeof *ps->velocity);
  init_locks(ps);
  atomic_init(&ps->abort_claimed, 0);
  atomic_init(&ps->abort_code, 0);
  while (ps->started < ps->slices &&
         pthread_create(&ps->threads[ps->started], NULL, ps_server_main, ps) == 0)
    ps->started++;
  if (ps->started < ps->slices) {
    int failed = ps->started + 1, wanted = ps->slices;
    stop_server(ps);
    destroy_locks(ps);
    free_memory(ps);
    return dpt_err_set(err, DPT_ENOMEM, "ps: cannot start server thread %d of %d", failed,
                       wanted);
  }
  if (cfg->procs > 1 && (rc = ps_mpi_serve_start(ps, cfg->n_workers, err)) != DPT_OK) {
    dpt_ps_destroy(ps);
    return rc;
  }
  *out = ps;
  return DPT_OK;
}

int dpt_ps_default_server_threads(void)
{
  int cores = dpt_cores_online();
  return cores > 8 ? 8 : cores;
}

void dpt_ps_get_stats(dpt_ps *ps, dpt_ps_stats *out)
{
  pthread_mutex_lock(&ps->mu);
  /* Every shard is applied once per round, and no shard starts round r+1 before all finished r. */
  out->rounds = ps->shards_applied / (uint64_t)ps->cfg.n_shards;
  out->server_busy_s = ps->busy_s;
  pthread_mutex_unlock(&ps->mu);
}

double dpt_ps_last_wait_s(dpt_ps *ps, int worker) { return ps->workers[worker].last_wait_s; }

dpt_ps_votes dpt_ps_last_votes(dpt_ps *ps, int worker) { return ps->workers[worker].last_votes; }

void dpt_ps_read_velocity(dpt_ps *ps, float *out)
{
  memcpy(out, ps->velocity, ps->cfg.n_params * sizeof *out);
}

void dpt_ps_destroy(dpt_ps *ps)
{
  if (!ps) return;
  if (ps->remote) {
    ps_mpi_remote_destroy(ps);
    return;
  }
  ps_mpi_serve_stop(ps); /* first: its threads may be pulling from the server */
  stop_server(ps);
  destroy_locks(ps);
  free_memory(ps);
}
