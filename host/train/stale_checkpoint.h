/* Private to host/: checkpoints of stale training (--staleness S >= 1, docs/ps.md "Checkpoints
 * with staleness"). A checkpoint is a consistent cut at an epoch's end: every worker has pushed
 * its last piece of the epoch and waits at the barrier, the replicas have settled on the
 * server's parameters, and the server's cut (dpt_sync_read_cut: pushes in flight applied whole,
 * none begun meanwhile) gives the parameters, the velocity and every worker's clock, which must
 * match the position saved. */
#ifndef DPT_HOST_TRAIN_STALE_CHECKPOINT_H
#define DPT_HOST_TRAIN_STALE_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "dpt/status.h"

struct dpt_run;

/* FNV-1a 64 of the parameters' bytes, then the velocity's: the state a checkpoint holds. */
uint64_t dpt_stale_state_hash(const float *params, const float *velocity, size_t n);

/* Worker 0 of the one process, at the end of epoch next_epoch - 1 (between barriers): reads the
 * server's cut into the run's save buffers and checks every worker's clock against the position:
 * with fixed shares each worker still in the run pushed every step this run trained; with the
 * shared queue the clocks add up to every piece of those steps (the queue is empty). A mismatch
 * is DPT_EINTERNAL: the cut would not be the state the position names. */
int dpt_stale_checkpoint_read(struct dpt_run *run, int next_epoch, dpt_err *err);

/* --resume, before the workers start: the hash of the state the server starts from, read back
 * from it in a cut (dpt_result.resumed_state_hash). */
int dpt_stale_resumed_state(struct dpt_run *run, uint64_t *hash, dpt_err *err);

#endif
