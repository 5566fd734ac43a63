/* The votes a worker casts in each gradient exchange, beside its gradient, and their counts over
 * every worker of every process once the exchange is done (dpt_sync_exchange, dpt_ps_push and
 * dpt_ps_pull carry them). A worker casts 0 or 1 of each:
 *   skip: its gradient holds NaN or Inf (--on-nan skip). Any skip vote skips the step of every
 *         worker: no parameter and no optimizer state changes anywhere in that exchange (the rule
 *         is kn_step_skipped, kernels/kn_math.h, the one place it is decided);
 *   stop: it was asked to stop; only counted, so that every worker of every process learns it in
 *         the same exchange (host/train/step_guard.h). */
#ifndef DPT_VOTES_H
#define DPT_VOTES_H

#include <stdint.h>

typedef struct dpt_votes {
  int32_t skip;
  int32_t stop;
} dpt_votes;

#endif
