/* Learning-rate schedule: linear warm-up, then cosine, step or no decay. */
#include <math.h>

#include "dpt/config.h"

float dpt_schedule_lr(const dpt_schedule *s, long step, long steps_per_epoch, int epochs)
{
  double t = (double)step / (double)steps_per_epoch; /* epochs elapsed, fractional */
  double warm = s->warmup_epochs;
  if (warm > 0 && t < warm) return (float)(s->base_lr * (t + 1.0 / (double)steps_per_epoch) / warm);
  switch (s->decay) {
  case DPT_LR_COSINE: {
    double span = (double)epochs - warm;
    double progress = span > 0 ? (t - warm) / span : 1.0;
    return (float)(0.5 * s->base_lr * (1.0 + cos(3.141592653589793 * progress)));
  }
  case DPT_LR_STEP: return (float)(s->base_lr * pow(s->gamma, floor(t / s->step_epochs)));
  default: return s->base_lr;
  }
}
