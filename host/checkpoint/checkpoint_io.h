/* Checkpoint files. Saves go through include/dpt/atomic_file.h (temporary file, fsync, rename, folder
 * fsync), so a failed or killed save leaves the previous checkpoint whole. Loads read the whole
 * file and decode it with every field checked (host/checkpoint/checkpoint_format.h). */
#ifndef DPT_HOST_CHECKPOINT_CHECKPOINT_IO_H
#define DPT_HOST_CHECKPOINT_CHECKPOINT_IO_H

#include "dpt/status.h"
#include "host/checkpoint/checkpoint_format.h"

/* Writes ck to path. slow_save_s > 0 is a test hook (DPT_TEST_SLOW_SAVE): it sleeps that long
 * between writing the temporary file and renaming it, so a test can kill the process mid-save.
 * Errors are DPT_EIO (or DPT_EINTERNAL for an impossible checkpoint). */
int dpt_checkpoint_write_file(const char *path, const dpt_checkpoint *ck, double slow_save_s,
                              dpt_err *err);

/* Reads and decodes path into out (free with dpt_checkpoint_free). Errors are DPT_EINPUT or
 * DPT_ENOMEM, "<name>: <what>": name is how the user knows the file, e.g. "--resume ck.bin". */
int dpt_checkpoint_read_file(const char *path, const char *name, dpt_checkpoint *out,
                             dpt_err *err);

/* The whole file in *out (free it), not decoded: for a process that passes the bytes on to others
 * (host/train/checkpoint_run.c). Errors as dpt_checkpoint_read_file's. */
int dpt_checkpoint_read_bytes(const char *path, const char *name, uint8_t **out, size_t *len,
                              dpt_err *err);

#endif
