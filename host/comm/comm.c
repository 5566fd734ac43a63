/* The dpt_comm_* wrappers: callers never reach into the backend's table. */
#include "dpt/comm.h"

int dpt_comm_allreduce_sum(dpt_comm *c, float *buf, size_t n, dpt_err *err)
{
  return c->vt->allreduce_sum(c->ctx, buf, n, err);
}

int dpt_comm_settle(dpt_comm *c, dpt_err *err)
{
  return c->vt->settle ? c->vt->settle(c->ctx, err) : DPT_OK;
}

int dpt_comm_allreduce_sum_queued(dpt_comm *c, float *buf, size_t n, bool wait_previous,
                                  dpt_err *err)
{
  return c->vt->allreduce_sum_queued
             ? c->vt->allreduce_sum_queued(c->ctx, buf, n, wait_previous, err)
                                     : c->vt->allreduce_sum(c->ctx, buf, n, err);
}

int dpt_comm_broadcast(dpt_comm *c, float *buf, size_t n, int root, dpt_err *err)
{
  return c->vt->broadcast(c->ctx, buf, n, root, err);
}

int dpt_comm_barrier(dpt_comm *c, dpt_err *err) { return c->vt->barrier(c->ctx, err); }

void dpt_comm_abort(dpt_comm *c, int code, const char *why) { c->vt->abort(c->ctx, code, why); }

size_t dpt_comm_allreduce_bytes(dpt_comm *c, size_t n) { return c->vt->allreduce_bytes(c->ctx, n); }

size_t dpt_comm_ring_allreduce_bytes(int size, size_t n)
{
  size_t ranks = (size_t)size;
  return 2 * (ranks - 1) * n * sizeof(float) / ranks;
}
