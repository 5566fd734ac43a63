#include "host/train/step_counts.h"

void dpt_step_counts_loop_start(dpt_step_counts *c, dpt_device *dev)
{
  c->counted = dpt_dev_counts_read(dev, &c->loop_start);
}

void dpt_step_counts_step_done(dpt_step_counts *c, dpt_device *dev)
{
  if (c->first_step_done) return;
  c->first_step_done = dpt_dev_counts_read(dev, &c->after_first_step);
}

void dpt_step_counts_loop_end(dpt_step_counts *c, dpt_device *dev, long steps)
{
  (void)dpt_dev_counts_read(dev, &c->loop_end);
  c->loop_steps = steps;
}

void dpt_step_counts_end(dpt_step_counts *c, dpt_device *dev)
{
  (void)dpt_dev_counts_read(dev, &c->at_end);
}

static double per_step(uint64_t from, uint64_t to, long steps) { return (double)(to - from) / steps; }

static void keep_max(double *fig, double v)
{
  if (v > *fig) *fig = v;
}

void dpt_step_counts_add(const dpt_step_counts *c, dpt_cuda_figures *out)
{
  if (!c->counted || !c->first_step_done || c->loop_steps <= 0) return;
  const dpt_dev_counts *a = &c->loop_start, *b = &c->loop_end;
  long steps = c->loop_steps;
  keep_max(&out->launches_per_step, per_step(a->launches, b->launches, steps));
  keep_max(&out->host_waits_per_step, per_step(a->host_waits, b->host_waits, steps));
  keep_max(&out->h2d_per_step, per_step(a->h2d, b->h2d, steps));
  keep_max(&out->d2h_per_step, per_step(a->d2h, b->d2h, steps));
  long allocs = (long)(c->at_end.allocs - c->after_first_step.allocs);
  if (!out->valid || allocs > out->allocs_after_first_step) out->allocs_after_first_step = allocs;
  out->valid = true;
}
