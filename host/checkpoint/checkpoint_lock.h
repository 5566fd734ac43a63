/* One run at a time per checkpoint path: an advisory lock (flock) held for the run's length on
 * "<checkpoint>.lock" beside the checkpoint. Not on the checkpoint itself: every save renames a new
 * file over it, and a lock on the old file would protect nothing after the first save. The kernel
 * drops the lock when its process ends, however it ends, so a killed run never leaves a stale lock
 * behind (only its lock file, which the next run takes over). The file holds the holder's pid and
 * host, for the message that refuses a second run. Every spelling of the path (./ck, dir/../ck)
 * names the same lock file; two symbolic links to one checkpoint do not. */
#ifndef DPT_HOST_CHECKPOINT_CHECKPOINT_LOCK_H
#define DPT_HOST_CHECKPOINT_CHECKPOINT_LOCK_H

#include "dpt/status.h"

typedef struct dpt_checkpoint_lock {
  int fd;      /* -1: not held */
  char *path;  /* the lock file's */
} dpt_checkpoint_lock;

/* Takes the lock of checkpoint_path. Another run holding it is DPT_EINPUT: "--checkpoint PATH:
 * another dptrain run is using it (pid P on HOST, lock file PATH.lock): ...". A lock file that
 * cannot be made or locked is DPT_EIO. */
int dpt_checkpoint_lock_take(const char *checkpoint_path, dpt_checkpoint_lock *lock,
                             dpt_err *err);

/* Removes the lock file and drops the lock; a lock never taken (fd -1) is left alone. */
void dpt_checkpoint_lock_release(dpt_checkpoint_lock *lock);

#endif
