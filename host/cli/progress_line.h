/* The progress bar's line: the epoch, a bar, the percentage, the rate and two ETAs (this epoch's
 * and the whole run's), fitted to a terminal's width by leaving out the least needed parts. */
#ifndef DPT_HOST_CLI_PROGRESS_LINE_H
#define DPT_HOST_CLI_PROGRESS_LINE_H

#include <stddef.h>

typedef struct dpt_progress {
  int epoch, epochs;
  long step_in_epoch, steps_per_epoch;
  double samples_per_sec;
  double epoch_eta_s, run_eta_s; /* < 0: not known yet */
} dpt_progress;

/* Writes p's line into buf (size > columns) and returns its length, at most columns - 1: a
 * character in the last column would make some terminals wrap. Drops, while the line is too
 * wide, the rate, then the bar, then cuts the end. */
int dpt_progress_line(const dpt_progress *p, int columns, char *buf, size_t size);

#endif
