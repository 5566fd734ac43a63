/* --straggler (docs/ps.md "Stragglers"): workers made slower on purpose, so that heterogeneous
 * and noisy clusters can be studied on one machine. A straggling step sleeps F - 1 times its
 * measured compute, which makes its compute F times slower. Two forms:
 *   W:F[,W:F...]  global worker W (over every MPI process) is F times slower at every step;
 *   random:P:F    at each step every worker is, with probability P, F times slower; the draw
 *                 depends only on --seed, the worker and the step, so runs repeat. */
#ifndef DPT_HOST_TRAIN_STRAGGLER_H
#define DPT_HOST_TRAIN_STRAGGLER_H

#include <stdint.h>

#include "dpt/status.h"

enum { DPT_STRAGGLERS_MAX = 64 };

typedef struct dpt_stragglers {
  int n_fixed;
  int worker[DPT_STRAGGLERS_MAX];
  double factor[DPT_STRAGGLERS_MAX];
  double random_p, random_factor; /* random_p 0: no random stragglers */
} dpt_stragglers;

/* Parses spec into *out; a malformed spec is a DPT_EINPUT line naming "--straggler SPEC". */
int dpt_stragglers_parse(const char *spec, dpt_stragglers *out, dpt_err *err);

/* The highest worker index the spec names, or -1 (the random form names none). */
int dpt_stragglers_top_worker(const dpt_stragglers *s);

/* How many times slower global worker `worker` computes at `step` (a global 0-based index): 1
 * when it does not straggle. */
double dpt_straggler_factor(const dpt_stragglers *s, uint64_t seed, int worker, long step);

#endif
