/* The folder `dptrain compare` writes into (--out DIR): created when missing; an existing one is
 * taken when it is empty or holds only files a compare writes (an earlier compare's output, which
 * this compare replaces in full), and refused otherwise, so that no other file is overwritten. */
#ifndef DPT_HOST_COMPARE_OUT_DIR_H
#define DPT_HOST_COMPARE_OUT_DIR_H

#include <stdbool.h>
#include <stddef.h>

#include "dpt/status.h"
#include "host/compare/compare_files.h"

/* requested NULL: a new folder named after the local time, compare-YYYYMMDD-HHMMSS. The folder's
 * path goes to dir; *created tells whether this call made it. Errors are DPT_EINPUT. */
int dpt_out_dir_prepare(const char *requested, char *dir, size_t size, bool *created,
                        dpt_err *err);

/* After a compare wrote `written` into dir: removes the files an earlier compare left there that
 * this one did not write (run-ps-w4.json after a --workers 1,2 compare). *removed counts them. */
int dpt_out_dir_remove_earlier(const char *dir, const dpt_compare_files *written, int *removed,
                               dpt_err *err);

#endif
