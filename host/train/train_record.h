/* A training run together with the files its configuration asks for: the --metrics CSV (fed
 * beside the caller's observer) and the --report JSON. Each file appears whole, and only when the
 * run succeeded. Shared by `dptrain` and every run of `dptrain compare`. */
#ifndef DPT_HOST_TRAIN_TRAIN_RECORD_H
#define DPT_HOST_TRAIN_TRAIN_RECORD_H

#include "dpt/trainer.h"

/* obs may be NULL. */
int dpt_train_recorded(const dpt_config *cfg, const dpt_observer *obs, dpt_result *out,
                       dpt_err *err);

#endif
