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

/* On the device, the votes travel in the tally: DPT_TALLY_FLOATS floats after the gradient in the
 * exchange's buffer (dpt_sync_attach hands out that many more). The worker's vote writes skip,
 * stop and own; the exchange sums skip and stop over every worker, in place; own stays this
 * worker's skip vote. */
enum { DPT_TALLY_SKIP, DPT_TALLY_STOP, DPT_TALLY_SUMMED, DPT_TALLY_OWN = DPT_TALLY_SUMMED,
       DPT_TALLY_FLOATS };

typedef struct dpt_votes {
  int32_t skip;
  int32_t stop;
} dpt_votes;

#endif
