/* Output files that appear whole or not at all, written as what stands at their path asks
 * (dpt/out_target.h): a regular file (or the one a symbolic link leads to) is written to
 * "<file>.tmp.<host>.<pid>", flushed, fsynced, renamed over the file, then the folder fsynced so
 * the rename survives a crash; until the rename an older file stays as it was. Opening removes the
 * temporary files of that file which ended processes of this host left behind (a save killed
 * midway). A FIFO or a character device is written straight through, and "-" is standard output:
 * there the bytes go out as they are written. */
#ifndef DPT_ATOMIC_FILE_H
#define DPT_ATOMIC_FILE_H

#include <stdio.h>

#include "dpt/out_target.h"
#include "dpt/status.h"

typedef struct dpt_atomic_file {
  FILE *f;
  char path[PATH_MAX];   /* as given, for messages */
  dpt_out_target target; /* where the bytes go */
} dpt_atomic_file;

int dpt_atomic_open(dpt_atomic_file *af, const char *path, dpt_err *err);
/* Flushes and, for a file, fsyncs, renames and syncs the folder; on a failure before the rename
 * removes the temporary file. */
int dpt_atomic_commit(dpt_atomic_file *af, dpt_err *err);
/* Drops the temporary file (what went to a FIFO, a device or standard output stays sent). */
void dpt_atomic_discard(dpt_atomic_file *af);

/* Writes the bytes of the file src to path as above (a file another program made, e.g. a chart). */
int dpt_atomic_copy_from(const char *path, const char *src, dpt_err *err);

#endif
