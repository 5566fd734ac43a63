/* Private to host/: the constructors dpt_sync_create dispatches to, one per strategy. Each checks
 * what only it needs; dpt_sync_create has checked the fields both use. */
#ifndef DPT_HOST_SYNC_SYNC_STRATEGIES_H
#define DPT_HOST_SYNC_SYNC_STRATEGIES_H

#include "dpt/sync.h"

int dpt_sync_allreduce_create(const dpt_sync_config *cfg, dpt_sync *out, dpt_err *err);
int dpt_sync_ps_create(const dpt_sync_config *cfg, dpt_sync *out, dpt_err *err);

#endif
