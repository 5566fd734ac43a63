/* The server thread: takes shards whose round is complete, sums their gradient slots in worker
 * order, applies the SGD step and publishes the shard's next version. */
#include <string.h>

#include "dpt/timer.h"
#include "kernels/kn_math.h"
#include "ps/ps_internal.h"

enum { APPLY_BLOCK = 2048 }; /* floats summed then stepped at a time: the sum stays in cache */

void ps_server_enqueue(dpt_ps *ps, ps_shard *s)
{
  pthread_mutex_lock(&ps->mu);
  ps->ready[(ps->ready_head + ps->ready_len) % ps->cfg.n_shards] = s->index;
  ps->ready_len++;
  pthread_cond_signal(&ps->cv);
  pthread_mutex_unlock(&ps->mu);
}

/* The next complete shard, or NULL once stopped or aborted. The wait has no deadline of its own:
 * the server waits on the workers, whose pulls time out and abort it, and destroy wakes it. */
static ps_shard *next_ready(dpt_ps *ps)
{
  ps_shard *s = NULL;
  pthread_mutex_lock(&ps->mu);
  while (!ps->ready_len && !ps->stop && !ps_abort_code(ps)) pthread_cond_wait(&ps->cv, &ps->mu);
  if (ps->ready_len && !ps->stop && !ps_abort_code(ps)) {
    s = &ps->shards[ps->ready[ps->ready_head]];
    ps->ready_head = (ps->ready_head + 1) % ps->cfg.n_shards;
    ps->ready_len--;
  }
  pthread_mutex_unlock(&ps->mu);
  return s;
}

/* acc = the sum of the slots in the allreduce's order, so both strategies produce the same bits:
 * each process's workers (ps->group consecutive slots) in worker order, then those partial sums
 * in process order (host/comm_hier.h). In one process that is slot_0 + slot_1 + ... + slot_{N-1}.
 * A group's partial sum builds up in its first worker's slot, acc in worker 0's: each worker
 * rewrites its slot only after pulling this round. Then the step, with the kernel every device
 * uses. A round some worker voted to skip changes nothing. */
static void apply_round(const dpt_ps *ps, ps_shard *s)
{
  const dpt_ps_config *c = &ps->cfg;
  if (s->votes.skip) return;
  float *acc = s->slots;
  float *params = ps->params + s->off, *velocity = ps->velocity + s->off;
  for (size_t lo = 0; lo < s->len; lo += APPLY_BLOCK) {
    size_t hi = s->len - lo < APPLY_BLOCK ? s->len : lo + APPLY_BLOCK;
    for (int first = 0; first < c->n_workers; first += ps->group) {
      float *part = s->slots + (size_t)first * s->stride;
      for (int w = first + 1; w < first + ps->group; w++) {
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

static void publish(dpt_ps *ps, ps_shard *s)
{
  pthread_mutex_lock(&s->mu);
  s->version++;
  s->arrived = 0;
  s->last_votes = s->votes;
  s->votes = (dpt_ps_votes){0};
  memset(s->pushed, 0, (size_t)ps->cfg.n_workers * sizeof *s->pushed);
  pthread_cond_broadcast(&s->cv);
  pthread_mutex_unlock(&s->mu);
}

void *ps_server_main(void *arg)
{
  dpt_ps *ps = arg;
  for (ps_shard *s; (s = next_ready(ps)) != NULL;) {
    double t0 = dpt_now();
    apply_round(ps, s);
    double busy = dpt_now() - t0;
    /* Only this thread writes s->version (publish), so it may read it without the lock. */
    if (ps->cfg.on_apply)
      ps->cfg.on_apply(ps->cfg.on_apply_ctx, s->index, s->version, t0, t0 + busy);
    /* Counted before publishing, so stats read after a pull include that round. */
    pthread_mutex_lock(&ps->mu);
    ps->busy_s += busy;
    ps->shards_applied++;
    pthread_mutex_unlock(&ps->mu);
    publish(ps, s);
  }
  return NULL;
}
