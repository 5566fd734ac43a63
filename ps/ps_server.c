/* The server threads: take slices of shards whose round is complete, sum their gradient slots in
 * worker order, apply the SGD step; the thread that finishes a shard's last slice publishes the
 * shard's next version. */
#include <float.h>
#include <string.h>

#include "dpt/timer.h"
#include "kernels/kn_math.h"
#include "ps/ps_internal.h"

enum {
  APPLY_BLOCK = 2048, /* floats summed then stepped at a time: the sum stays in cache */
  SLICE_ALIGN = 16    /* floats: slices start on a cache line of the slots */
};

void ps_server_enqueue(ps_local *ps, ps_shard *s)
{
  int capacity = ps->cfg.n_shards * ps->cfg.server_threads;
  pthread_mutex_lock(&ps->mu);
  s->slices_left = ps->cfg.server_threads;
  s->apply_t0 = DBL_MAX;
  for (int i = 0; i < ps->cfg.server_threads; i++)
    ps->ready[(ps->ready_head + ps->ready_len++) % capacity] =
        s->index * ps->cfg.server_threads + i;
  pthread_cond_broadcast(&ps->cv);
  pthread_mutex_unlock(&ps->mu);
}

/* The next ready task, or -1 once stopped or aborted. The wait has no deadline of its own: the
 * server waits on the workers, whose pulls time out and abort it, and destroy wakes it. */
static int next_task(ps_local *ps)
{
  int task = -1;
  pthread_mutex_lock(&ps->mu);
  while (!ps->ready_len && !ps->stop && !ps_abort_code(ps)) pthread_cond_wait(&ps->cv, &ps->mu);
  if (ps->ready_len && !ps->stop && !ps_abort_code(ps)) {
    task = ps->ready[ps->ready_head];
    ps->ready_head = (ps->ready_head + 1) % (ps->cfg.n_shards * ps->cfg.server_threads);
    ps->ready_len--;
  }
  pthread_mutex_unlock(&ps->mu);
  return task;
}

/* Slice i of a shard of len floats: [start(i), start(i + 1)), as even as SLICE_ALIGN allows. */
static size_t slice_start(size_t len, int slices, int i)
{
  size_t start = len * (size_t)i / (size_t)slices / SLICE_ALIGN * SLICE_ALIGN;
  return i == slices ? len : start;
}

/* acc = the sum of the slots in the allreduce's order, so both strategies produce the same bits:
 * each process's workers (ps->workers_per_proc consecutive slots) in worker order, then those
 * partial sums in process order (host/comm/comm_hier.h). In one process that is slot_0 + slot_1 +
 * ... + slot_{N-1}. A process's partial sum builds up in its first worker's slot, acc in worker
 * 0's: each worker rewrites its slot only after pulling this round. Then the step, with the kernel
 * every device uses. Over [begin, end) of the shard: one slice. A round some worker voted to skip
 * (kn_step_skipped) changes nothing. */
static void apply_slice(const ps_local *ps, const ps_shard *s, size_t begin, size_t end)
{
  const dpt_ps_config *c = &ps->cfg;
  if (kn_step_skipped((float)s->votes.skip)) return;
  float *acc = s->slots;
  float *params = ps->params + s->off, *velocity = ps->velocity + s->off;
  for (size_t lo = begin; lo < end; lo += APPLY_BLOCK) {
    size_t hi = end - lo < APPLY_BLOCK ? end : lo + APPLY_BLOCK;
    for (int first = 0; first < c->n_workers; first += ps->workers_per_proc) {
      float *part = s->slots + (size_t)first * s->stride;
      for (int w = first + 1; w < first + ps->workers_per_proc; w++) {
        const float *x = s->slots + (size_t)w * s->stride;
        for (size_t i = lo; i < hi; i++) kn_add_at(i, x, part);
      }
      if (first > 0)
        for (size_t i = lo; i < hi; i++) kn_add_at(i, part, acc);
    }
    for (size_t i = lo; i < hi; i++)
      kn_sgd_step_at(i, params, acc, velocity, s->lr, c->momentum, c->weight_decay);
  }
}

static void publish(ps_local *ps, ps_shard *s)
{
  pthread_mutex_lock(&s->mu);
  s->version++;
  s->arrived = 0;
  s->last_votes = s->votes;
  s->votes = (dpt_votes){0};
  memset(s->pushed, 0, (size_t)ps->cfg.n_workers * sizeof *s->pushed);
  pthread_cond_broadcast(&s->cv);
  pthread_mutex_unlock(&s->mu);
}

/* Counts a slice applied over [t0, t1); true for the thread that finished the shard's round, which
 * also tells the on_apply hook. Under the server lock: counted before publishing, so stats read
 * after a pull include that round, and hook calls from different threads (different shards of a
 * round) come one at a time. */
static bool slice_done(ps_local *ps, ps_shard *s, double t0, double t1)
{
  pthread_mutex_lock(&ps->mu);
  ps->busy_s += t1 - t0;
  if (t0 < s->apply_t0) s->apply_t0 = t0;
  bool last = --s->slices_left == 0;
  ps->shards_applied += last;
  /* The round's votes stay put until publish: every push of it came before its enqueue. */
  ps->rounds_skipped += last && s->index == 0 && kn_step_skipped((float)s->votes.skip);
  /* Only the last slice's thread writes s->version (publish): it may read it without its lock. */
  if (last && ps->cfg.on_apply)
    ps->cfg.on_apply(ps->cfg.on_apply_ctx, s->index, s->version, -1, s->apply_t0, t1);
  pthread_mutex_unlock(&ps->mu);
  return last;
}

void *ps_server_main(void *arg)
{
  ps_local *ps = arg;
  for (int task; (task = next_task(ps)) >= 0;) {
    ps_shard *s = &ps->shards[task / ps->cfg.server_threads];
    int slice = task % ps->cfg.server_threads;
    double t0 = dpt_now();
    apply_slice(ps, s, slice_start(s->len, ps->cfg.server_threads, slice),
                slice_start(s->len, ps->cfg.server_threads, slice + 1));
    if (slice_done(ps, s, t0, dpt_now())) publish(ps, s);
  }
  return NULL;
}
