/* The folder `dptrain compare` writes into (--out DIR): created when missing, refused when the
 * path is something other than a writable folder. */
#ifndef DPT_HOST_COMPARE_OUT_DIR_H
#define DPT_HOST_COMPARE_OUT_DIR_H

#include <stdbool.h>
#include <stddef.h>

#include "dpt/status.h"

/* requested NULL: a new folder named after the local time, compare-YYYYMMDD-HHMMSS. The folder's
 * path goes to dir; *created tells whether this call made it. */
int dpt_out_dir_prepare(const char *requested, char *dir, size_t size, bool *created,
                        dpt_err *err);

#endif
