/* Private to host/: over MPI processes every process must train with the same settings, or the
 * replicas drift apart (--seed, --lr), the messages between processes stop matching (--hidden) or
 * one process waits for collectives the others never start (--batch, --strategy, --checkpoint on
 * one process only). At start-up, before any message whose size or count depends on a setting,
 * the processes gather each other's settings (one row per compared option, config_agree.c) and
 * compare them. */
#ifndef DPT_HOST_TRAIN_CONFIG_AGREE_H
#define DPT_HOST_TRAIN_CONFIG_AGREE_H

#include <stdbool.h>

#include "dpt/config.h"
#include "dpt/status.h"

/* Collective over cfg->procs processes (no-op for one). Returns 0 when they agree. When a setting
 * differs: DPT_EINPUT ("--seed differs between processes: 1 on process 0, 2 on process 1", the
 * first compared option that differs, the first process that differs from process 0) and
 * *everyone_refuses set: every process compared the same gathered rows, so each returns this same
 * message. Any other failure (the exchange itself) leaves *everyone_refuses false: only this
 * process knows of it. */
int dpt_config_agree(const dpt_config *cfg, bool *everyone_refuses, dpt_err *err);

#endif
