/* Several observers of one run behind one dpt_observer: each callback goes to every part that has
 * it, in the order the parts were added; the run stops when any part's should_stop says so. */
#ifndef DPT_HOST_RECORD_OBSERVER_TEE_H
#define DPT_HOST_RECORD_OBSERVER_TEE_H

#include "dpt/trainer.h"

enum { DPT_TEE_MAX = 4 };

typedef struct dpt_observer_tee {
  dpt_observer parts[DPT_TEE_MAX];
  int n;
} dpt_observer_tee;

/* The tee starts empty; adding more than DPT_TEE_MAX parts is a bug and returns DPT_EINTERNAL. */
int dpt_observer_tee_add(dpt_observer_tee *t, const dpt_observer *part, dpt_err *err);
dpt_observer dpt_observer_tee_observer(dpt_observer_tee *t);

#endif
