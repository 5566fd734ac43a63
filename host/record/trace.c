#include "host/record/trace.h"

#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

#include "dpt/atomic_file.h"
#include "dpt/cache_lines.h"
#include "dpt/number_text.h"

/* Per step a worker records compute, wait and communication, plus at most one eval. */
enum { WORKER_SPANS_PER_STEP = 4, SERVER_SHARDS_TRACED = 16 };

typedef struct trace_event {
  double t0, t1;
  long step;
  int shard, worker; /* -1 where they do not apply */
  dpt_span_kind kind;
} trace_event;

/* Written by one thread only; on its own cache lines so tracks never share one. */
typedef struct trace_track {
  alignas(DPT_CACHE_LINE) trace_event *events;
  long len, cap;
  long dropped;
} trace_track;

struct dpt_trace {
  dpt_trace_config cfg;
  int n_tracks;
  trace_track *tracks;
};

int dpt_trace_create(const dpt_trace_config *cfg, dpt_trace **out, dpt_err *err)
{
  *out = NULL;
  dpt_trace *t = calloc(1, sizeof *t);
  int n = cfg->workers + (cfg->ps_shards > 0);
  trace_track *tracks = t ? dpt_cache_lines_alloc((size_t)n, sizeof *tracks) : NULL;
  if (!tracks) {
    free(t);
    return dpt_err_set(err, DPT_ENOMEM, "--trace: out of memory");
  }
  *t = (dpt_trace){.cfg = *cfg, .n_tracks = n, .tracks = tracks};
  int shards = cfg->ps_shards < SERVER_SHARDS_TRACED ? cfg->ps_shards : SERVER_SHARDS_TRACED;
  for (int i = 0; i < n; i++) {
    long per_step = i < cfg->workers ? WORKER_SPANS_PER_STEP
                                     : shards * (cfg->ps_per_push ? cfg->workers : 1);
    tracks[i].cap = cfg->max_steps * per_step;
    tracks[i].events = malloc((size_t)tracks[i].cap * sizeof(trace_event));
    if (!tracks[i].events) {
      dpt_trace_destroy(t);
      return dpt_err_set(err, DPT_ENOMEM, "--trace: out of memory for %ld steps", cfg->max_steps);
    }
  }
  *out = t;
  return DPT_OK;
}

static void record(dpt_trace *t, int track, trace_event e)
{
  trace_track *k = &t->tracks[track];
  if (e.step > t->cfg.steps_before + t->cfg.max_steps || k->len == k->cap) {
    k->dropped++;
    return;
  }
  k->events[k->len++] = e;
}

void dpt_trace_span(dpt_trace *t, int track, dpt_span_kind kind, double t0, double t1, long step,
                    int shard)
{
  record(t, track, (trace_event){.t0 = t0, .t1 = t1, .step = step, .shard = shard, .worker = -1,
                                 .kind = kind});
}

/* The sync layer reports only the totals of waiting and communicating. A synchronous exchange
 * mostly blocks for the slowest worker before the round can be combined, so the wait is drawn
 * first and the communication after it. */
void dpt_trace_step(dpt_trace *t, int worker, long step, double start, double computed,
                    double end, const dpt_sync_timing *timing)
{
  double waited = computed + timing->wait_s;
  dpt_trace_span(t, worker, DPT_SPAN_COMPUTE, start, computed, step, -1);
  if (timing->wait_s > 0) dpt_trace_span(t, worker, DPT_SPAN_WAIT, computed, waited, step, -1);
  dpt_trace_span(t, worker, DPT_SPAN_COMM, waited, end, step, -1);
}

void dpt_trace_server_apply(void *trace, int shard, uint64_t round, int worker, double t0,
                            double t1)
{
  dpt_trace *t = trace;
  record(t, t->cfg.workers, (trace_event){.t0 = t0, .t1 = t1, .step = (long)round + 1,
                                          .shard = shard, .worker = worker,
                                          .kind = DPT_SPAN_OPTIMIZER});
}

static const char *span_name(const dpt_trace *t, dpt_span_kind kind)
{
  switch (kind) {
  case DPT_SPAN_COMPUTE: return "compute";
  case DPT_SPAN_COMM: return t->cfg.strategy == DPT_STRATEGY_PS ? "push-pull" : "allreduce";
  case DPT_SPAN_WAIT: return "wait";
  case DPT_SPAN_EVAL: return "eval";
  case DPT_SPAN_OPTIMIZER: return "optimizer";
  }
  return "unknown";
}

static void write_thread_names(FILE *f, const dpt_trace *t)
{
  const dpt_trace_config *c = &t->cfg;
  fprintf(f, "{\"ph\":\"M\",\"pid\":1,\"tid\":0,\"name\":\"process_name\","
             "\"args\":{\"name\":\"dptrain %s, %d worker%s\"}}",
          dpt_strategy_name(c->strategy), c->workers, c->workers == 1 ? "" : "s");
  for (int i = 0; i < t->n_tracks; i++) {
    char name[64];
    if (i < c->workers) snprintf(name, sizeof name, "worker %d", i);
    else snprintf(name, sizeof name, "parameter server (%d shards)", c->ps_shards);
    fprintf(f, ",\n{\"ph\":\"M\",\"pid\":1,\"tid\":%d,\"name\":\"thread_name\","
               "\"args\":{\"name\":\"%s\"}}", i, name);
    fprintf(f, ",\n{\"ph\":\"M\",\"pid\":1,\"tid\":%d,\"name\":\"thread_sort_index\","
               "\"args\":{\"sort_index\":%d}}", i, i);
  }
}

static void write_event(FILE *f, const dpt_trace *t, int track, const trace_event *e)
{
  double ts = (e->t0 - t->cfg.origin_s) * 1e6, dur = (e->t1 - e->t0) * 1e6;
  fprintf(f, ",\n{\"ph\":\"X\",\"pid\":1,\"tid\":%d,\"name\":\"%s\",\"ts\":%s,\"dur\":%s,"
             "\"args\":{\"step\":%ld", track, span_name(t, e->kind), DPT_JSON_NUM(ts, 3),
          DPT_JSON_NUM(dur > 0 ? dur : 0, 3), e->step);
  if (e->shard >= 0) fprintf(f, ",\"shard\":%d", e->shard);
  if (e->worker >= 0) fprintf(f, ",\"worker\":%d", e->worker);
  fputs("}}", f);
}

int dpt_trace_write(const dpt_trace *t, const char *path, dpt_err *err)
{
  dpt_atomic_file af;
  int rc = dpt_atomic_open(&af, path, err);
  if (rc) return rc;
  FILE *f = af.f;
  long dropped = 0;
  for (int i = 0; i < t->n_tracks; i++) dropped += t->tracks[i].dropped;
  const dpt_trace_config *c = &t->cfg;
  long left = c->total_steps - c->steps_before;
  long traced = c->max_steps < left ? c->max_steps : left;
  fprintf(f, "{\"displayTimeUnit\":\"ms\",\n\"otherData\":{\"strategy\":\"%s\",\"workers\":%d,",
          dpt_strategy_name(c->strategy), c->workers);
  fprintf(f, "\"first_step\":%ld,\"traced_steps\":%ld,\"total_steps\":%ld,\"dropped_events\":%ld,"
             "\"note\":\"%s\"},\n\"traceEvents\":[\n",
          c->steps_before + 1, traced, c->total_steps, dropped,
          dropped ? "spans past the traced steps (--trace-steps) or a full track were dropped"
                  : "every span was recorded");
  write_thread_names(f, t);
  for (int i = 0; i < t->n_tracks; i++)
    for (long j = 0; j < t->tracks[i].len; j++) write_event(f, t, i, &t->tracks[i].events[j]);
  fputs("\n]}\n", f);
  return dpt_atomic_commit(&af, err);
}

void dpt_trace_destroy(dpt_trace *t)
{
  if (!t) return;
  for (int i = 0; i < t->n_tracks; i++) free(t->tracks[i].events);
  free(t->tracks);
  free(t);
}
