/* Fitting a message into a fixed buffer without losing its reason: the longest words (paths, in
 * practice; a reason is made of short words) are shortened in their middle, "/very/lo...e/name",
 * until the message fits. Used by dpt_err_set. */
#ifndef DPT_MSG_FIT_H
#define DPT_MSG_FIT_H

#include <stddef.h>

/* Shortens msg (len bytes, NUL-terminated) in place until it is shorter than size; returns the new
 * length. A word keeps at least its first and last few characters; a message of short words only
 * that still does not fit is cut at its end, the last resort. */
size_t dpt_msg_fit(char *msg, size_t len, size_t size);

#endif
