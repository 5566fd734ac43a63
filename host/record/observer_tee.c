#include "host/record/observer_tee.h"

int dpt_observer_tee_add(dpt_observer_tee *t, const dpt_observer *part, dpt_err *err)
{
  if (t->n == DPT_TEE_MAX)
    return dpt_err_set(err, DPT_EINTERNAL, "observer tee: more than %d observers", DPT_TEE_MAX);
  t->parts[t->n++] = *part;
  return DPT_OK;
}

static void on_step(void *ctx, const dpt_step_stats *s)
{
  dpt_observer_tee *t = ctx;
  for (int i = 0; i < t->n; i++)
    if (t->parts[i].on_step) t->parts[i].on_step(t->parts[i].ctx, s);
}

static void on_epoch(void *ctx, const dpt_epoch_stats *s)
{
  dpt_observer_tee *t = ctx;
  for (int i = 0; i < t->n; i++)
    if (t->parts[i].on_epoch) t->parts[i].on_epoch(t->parts[i].ctx, s);
}

static void on_notice(void *ctx, const char *msg)
{
  dpt_observer_tee *t = ctx;
  for (int i = 0; i < t->n; i++)
    if (t->parts[i].on_notice) t->parts[i].on_notice(t->parts[i].ctx, msg);
}

/* Any part asking to stop stops the run. */
static bool should_stop(void *ctx)
{
  dpt_observer_tee *t = ctx;
  for (int i = 0; i < t->n; i++)
    if (t->parts[i].should_stop && t->parts[i].should_stop(t->parts[i].ctx)) return true;
  return false;
}

/* The first part that can end the process does: it does not return. */
static void on_stuck(void *ctx, const dpt_err *err)
{
  dpt_observer_tee *t = ctx;
  for (int i = 0; i < t->n; i++)
    if (t->parts[i].on_stuck) t->parts[i].on_stuck(t->parts[i].ctx, err);
}

dpt_observer dpt_observer_tee_observer(dpt_observer_tee *t)
{
  return (dpt_observer){.ctx = t, .on_step = on_step, .on_epoch = on_epoch, .on_notice = on_notice,
                        .should_stop = should_stop, .on_stuck = on_stuck};
}
