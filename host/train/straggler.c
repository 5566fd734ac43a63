#include "host/train/straggler.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dpt/parse.h"
#include "dpt/rng.h"

enum { MAX_FACTOR = 1000 };

/* The factor text f of spec: a number in [1, MAX_FACTOR]. */
static int parse_factor(const char *spec, const char *f, double *out, dpt_err *err)
{
  dpt_err why = {0};
  if (dpt_parse_double("factor", f, 1, false, MAX_FACTOR, out, &why) == DPT_OK) return DPT_OK;
  return dpt_err_set(err, DPT_EINPUT, "--straggler %s: %s (F: how many times slower)", spec,
                     why.msg);
}

static int parse_random(const char *spec, char *rest, dpt_stragglers *out, dpt_err *err)
{
  char *colon = strchr(rest, ':');
  if (!colon)
    return dpt_err_set(err, DPT_EINPUT, "--straggler %s: expected random:P:F", spec);
  *colon = '\0';
  dpt_err why = {0};
  if (dpt_parse_double("probability", rest, 0, true, 1, &out->random_p, &why))
    return dpt_err_set(err, DPT_EINPUT, "--straggler %s: %s", spec, why.msg);
  return parse_factor(spec, colon + 1, &out->random_factor, err);
}

/* One W:F item; a worker named twice is refused. */
static int parse_fixed(const char *spec, char *item, dpt_stragglers *out, dpt_err *err)
{
  char *colon = strchr(item, ':');
  if (!colon)
    return dpt_err_set(err, DPT_EINPUT, "--straggler %s: '%s': expected W:F or random:P:F", spec,
                       item);
  if (out->n_fixed == DPT_STRAGGLERS_MAX)
    return dpt_err_set(err, DPT_EINPUT, "--straggler %s: at most %d workers", spec,
                       DPT_STRAGGLERS_MAX);
  *colon = '\0';
  int w;
  dpt_err why = {0};
  if (dpt_parse_int("worker", item, 0, 1 << 20, &w, &why))
    return dpt_err_set(err, DPT_EINPUT, "--straggler %s: %s", spec, why.msg);
  for (int i = 0; i < out->n_fixed; i++)
    if (out->worker[i] == w)
      return dpt_err_set(err, DPT_EINPUT, "--straggler %s: worker %d named twice", spec, w);
  out->worker[out->n_fixed] = w;
  int rc = parse_factor(spec, colon + 1, &out->factor[out->n_fixed], err);
  if (!rc) out->n_fixed++;
  return rc;
}

int dpt_stragglers_parse(const char *spec, dpt_stragglers *out, dpt_err *err)
{
  memset(out, 0, sizeof *out);
  char *copy = strdup(spec);
  if (!copy) return dpt_err_set(err, DPT_ENOMEM, "--straggler: out of memory");
  int rc = DPT_OK;
  if (strncmp(copy, "random:", 7) == 0) {
    rc = parse_random(spec, copy + 7, out, err);
  } else if (!*copy) {
    rc = dpt_err_set(err, DPT_EINPUT, "--straggler '': expected W:F[,W:F...] or random:P:F");
  } else {
    char *save = NULL;
    for (char *item = strtok_r(copy, ",", &save); item && !rc; item = strtok_r(NULL, ",", &save))
      rc = parse_fixed(spec, item, out, err);
    /* strtok_r skips empty items: a list with one ("1:2,,3:2") is malformed. */
    if (!rc && (strstr(spec, ",,") || spec[0] == ',' || spec[strlen(spec) - 1] == ','))
      rc = dpt_err_set(err, DPT_EINPUT, "--straggler %s: an empty item", spec);
  }
  free(copy);
  return rc;
}

int dpt_stragglers_top_worker(const dpt_stragglers *s)
{
  int top = -1;
  for (int i = 0; i < s->n_fixed; i++)
    if (s->worker[i] > top) top = s->worker[i];
  return top;
}

double dpt_straggler_factor(const dpt_stragglers *s, uint64_t seed, int worker, long step)
{
  for (int i = 0; i < s->n_fixed; i++)
    if (s->worker[i] == worker) return s->factor[i];
  if (s->random_p <= 0) return 1;
  /* One draw per (seed, worker, step), independent of the order steps run in. */
  dpt_rng rng;
  dpt_rng_seed(&rng, seed ^ ((uint64_t)(unsigned)worker << 40) ^ (uint64_t)step * 0x9E3779B97F4A7C15ULL);
  return dpt_rng_uniform(&rng) < s->random_p ? s->random_factor : 1;
}
