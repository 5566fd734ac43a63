/* Where an output's bytes go, decided by what stands at its path (docs/reliability.md, Output
 * files):
 *   - nothing, or a regular file: a temporary file beside it, renamed over it (dpt/atomic_file.h);
 *   - a symbolic link (chains too, dangling ones included): the same for the file it leads to,
 *     so the link stays a link;
 *   - a FIFO or a character device (/dev/null, a terminal): opened and written straight through,
 *     never renamed over or removed;
 *   - "-": standard output;
 *   - a folder, a socket or a block device: refused.
 * Resolving writes nothing. */
#ifndef DPT_OUT_TARGET_H
#define DPT_OUT_TARGET_H

#include <limits.h>

#include "dpt/status.h"

typedef enum {
  DPT_OUT_REPLACE, /* file written as tmp, then renamed over file */
  DPT_OUT_THROUGH, /* file opened for writing as it is */
  DPT_OUT_STDOUT,
} dpt_out_kind;

typedef struct dpt_out_target {
  dpt_out_kind kind;
  char file[PATH_MAX]; /* REPLACE: the file replaced, links followed; THROUGH: the path */
  char tmp[PATH_MAX];  /* REPLACE: "<file>.tmp.<host>.<pid>" */
} dpt_out_target;

/* Messages start with "OPT PATH: " (opt may be NULL). DPT_EINPUT for a path or a name in it
 * longer than the system allows (PATH_MAX, NAME_MAX; the temporary file's name counts), for a
 * link chain that loops, for a kind of file that is refused, and for a path that cannot be
 * looked at (permissions). */
int dpt_out_target_resolve(const char *opt, const char *path, dpt_out_target *t, dpt_err *err);

/* Whether the target can be written now, before a run spends its time: REPLACE creates and
 * removes its temporary file (the folder exists and takes new files: root or not, read-only or
 * not), THROUGH needs write permission, STDOUT an open standard output. DPT_EINPUT otherwise. */
int dpt_out_target_check_writable(const char *opt, const char *path, const dpt_out_target *t,
                                  dpt_err *err);

#endif
