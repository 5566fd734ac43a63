/* Files that appear whole or not at all: written to "<path>.tmp.<host>.<pid>", flushed, fsynced,
 * renamed, then the folder fsynced so the rename survives a crash. Until the rename an older file
 * at path stays as it was. Opening removes the temporary files of path that ended processes of
 * this host left behind (a save killed midway). */
#ifndef DPT_ATOMIC_FILE_H
#define DPT_ATOMIC_FILE_H

#include <stdio.h>

#include "dpt/status.h"

typedef struct dpt_atomic_file {
  FILE *f;
  char path[4096];
  char tmp[4096 + 256 + 32]; /* path, host name, pid */
} dpt_atomic_file;

int dpt_atomic_open(dpt_atomic_file *af, const char *path, dpt_err *err);
/* Flushes, fsyncs, renames and syncs the folder; on a failure before the rename removes the
 * temporary file. */
int dpt_atomic_commit(dpt_atomic_file *af, dpt_err *err);
/* Drops the temporary file. */
void dpt_atomic_discard(dpt_atomic_file *af);

#endif
