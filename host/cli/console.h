/* What a person sees while training: a progress bar on a terminal (stderr), one line per epoch
 * (stdout), notices. Implements the trainer's observer. */
#ifndef DPT_HOST_CLI_CONSOLE_H
#define DPT_HOST_CLI_CONSOLE_H

#include <stdbool.h>
#include <stdio.h>

#include "dpt/trainer.h"

typedef struct dpt_console {
  FILE *out;          /* epoch lines */
  FILE *bar;          /* progress bar; NULL: none */
  bool quiet;
  double last_draw_s;
  int bar_width;      /* the most characters drawn on the bar line since it was cleared */
  long first_step;    /* the run's first step seen and when, for the run's ETA; 0: none yet */
  double first_elapsed_s;
  long last_step;     /* the step seen last: a smaller one starts a new run */
} dpt_console;

/* The bar is drawn only when bar_stream is a terminal and not quiet. */
void dpt_console_init(dpt_console *c, FILE *out, FILE *bar_stream, bool quiet);
dpt_observer dpt_console_observer(dpt_console *c);

/* Clears the progress bar if one is drawn, so that the next line written to the terminal (an
 * error, the interrupt message) starts on a line of its own. */
void dpt_console_end_line(dpt_console *c);

#endif
