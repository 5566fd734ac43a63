#include "host/record/metrics.h"

#include "dpt/number_text.h"
#include "dpt/sync.h"

int dpt_metrics_open(dpt_metrics *m, const dpt_config *cfg, dpt_err *err)
{
  *m = (dpt_metrics){.every = cfg->metrics_every, .strategy = dpt_strategy_name(cfg->strategy),
                     .stale = cfg->strategy == DPT_STRATEGY_PS && cfg->staleness > 0};
  int rc = dpt_atomic_open(&m->af, cfg->metrics_path, err);
  if (!rc)
    fprintf(m->af.f,
            "kind,step,epoch,workers,strategy,loss,lr,samples_per_sec,test_accuracy,elapsed_s%s\n",
            m->stale ? ",staleness" : "");
  return rc;
}

static void on_step(void *ctx, const dpt_step_stats *s)
{
  dpt_metrics *m = ctx;
  if (s->step % m->every != 0) return;
  if (s->epoch != m->last_epoch) { /* the interval starts with the epoch's training loop */
    m->last_epoch = s->epoch;
    m->last_samples = 0;
    m->last_epoch_elapsed_s = 0;
  }
  double dt = s->epoch_elapsed_s - m->last_epoch_elapsed_s;
  double rate = dt > 0 ? (double)(s->samples_done - m->last_samples) / dt : 0;
  m->last_samples = s->samples_done;
  m->last_epoch_elapsed_s = s->epoch_elapsed_s;
  fprintf(m->af.f, "step,%ld,%d,%d,%s,%s,%s,%s,,%s", s->step, s->epoch, s->workers, m->strategy,
          DPT_CSV_NUM(s->loss, 6), DPT_CSV_NUM(s->lr, -1), DPT_CSV_NUM(rate, 1),
          DPT_CSV_NUM(s->elapsed_s, 3));
  if (m->stale) fprintf(m->af.f, ",%ld", s->staleness);
  fputc('\n', m->af.f);
}

static void on_epoch(void *ctx, const dpt_epoch_stats *s)
{
  dpt_metrics *m = ctx;
  fprintf(m->af.f, "epoch,%ld,%d,%d,%s,%s,%s,%s,%s,%s%s\n", s->step, s->epoch, s->workers,
          m->strategy, DPT_CSV_NUM(s->train_loss, 6), DPT_CSV_NUM(s->lr, -1),
          DPT_CSV_NUM(s->samples_per_sec, 1), DPT_CSV_NUM(s->test_accuracy, 4),
          DPT_CSV_NUM(s->elapsed_s, 3), m->stale ? "," : "");
}

dpt_observer dpt_metrics_observer(dpt_metrics *m)
{
  return (dpt_observer){.ctx = m, .on_step = on_step, .on_epoch = on_epoch};
}

int dpt_metrics_commit(dpt_metrics *m, dpt_err *err) { return dpt_atomic_commit(&m->af, err); }

void dpt_metrics_discard(dpt_metrics *m) { dpt_atomic_discard(&m->af); }
