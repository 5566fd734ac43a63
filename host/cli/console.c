#include "host/cli/console.h"

#include <stdlib.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "dpt/timer.h"
#include "host/cli/progress_line.h"
#include "host/cli/signals.h"

void dpt_console_init(dpt_console *c, FILE *out, FILE *bar_stream, bool quiet)
{
  c->out = out;
  c->bar = (!quiet && bar_stream && isatty(fileno(bar_stream))) ? bar_stream : NULL;
  c->quiet = quiet;
  c->last_draw_s = 0;
  c->bar_width = 0;
  c->first_step = c->last_step = 0;
  c->first_elapsed_s = 0;
}

/* The signal handler writes to standard error too: it must know when the bar's line is open
 * (said before drawing and after clearing, so that it never glues its line onto the bar; at
 * worst it leaves an empty line). */
static void note_partial_line(const dpt_console *c, bool open)
{
  if (fileno(c->bar) == STDERR_FILENO) dpt_signals_partial_line(open);
}

void dpt_console_end_line(dpt_console *c)
{
  if (!c->bar || !c->bar_width) return;
  fprintf(c->bar, "\r%*s\r", c->bar_width, "");
  fflush(c->bar);
  c->bar_width = 0;
  note_partial_line(c, false);
}

/* The terminal's width now (it may have been resized), else $COLUMNS, else 80. */
static int terminal_columns(FILE *f)
{
  struct winsize ws;
  if (ioctl(fileno(f), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  const char *env = getenv("COLUMNS");
  int n = env ? atoi(env) : 0;
  return n > 0 ? n : 80;
}

/* The whole run's ETA from the time per step since the first step this console saw, which counts
 * the evaluations of the epochs in between too. */
static double run_eta_s(dpt_console *c, const dpt_step_stats *s)
{
  if (c->first_step == 0 || s->step <= c->last_step) { /* a new run (compare has several) */
    c->first_step = s->step;
    c->first_elapsed_s = s->elapsed_s;
  }
  c->last_step = s->step;
  long done = s->step - c->first_step;
  if (done <= 0) return -1;
  double per_step = (s->elapsed_s - c->first_elapsed_s) / (double)done;
  return per_step * (double)((long)s->epochs * s->steps_per_epoch - s->step);
}

static void on_step(void *ctx, const dpt_step_stats *s)
{
  dpt_console *c = ctx;
  if (!c->bar) return;
  double run_eta = run_eta_s(c, s);
  long step = s->step_in_epoch, steps = s->steps_per_epoch;
  double elapsed = s->epoch_elapsed_s;
  double now = dpt_now();
  if (step < steps && now - c->last_draw_s < 0.1) return; /* redraw at most 10 times a second */
  c->last_draw_s = now;
  dpt_progress p = {
    .epoch = s->epoch, .epochs = s->epochs, .step_in_epoch = step, .steps_per_epoch = steps,
    .samples_per_sec = elapsed > 0 ? (double)s->samples_done / elapsed : 0,
    .epoch_eta_s = step > 0 ? elapsed * (double)(steps - step) / (double)step : -1,
    .run_eta_s = run_eta};
  char line[512];
  int width = dpt_progress_line(&p, terminal_columns(c->bar), line, sizeof line);
  note_partial_line(c, true);
  /* Spaces over what a longer previous line left. */
  fprintf(c->bar, "\r%s%*s", line, c->bar_width > width ? c->bar_width - width : 0, "");
  if (width > c->bar_width) c->bar_width = width;
  fflush(c->bar);
}

static void on_epoch(void *ctx, const dpt_epoch_stats *s)
{
  dpt_console *c = ctx;
  dpt_console_end_line(c);
  if (c->quiet) return;
  fprintf(c->out,
          "epoch %*d/%d  loss %.4f  train_acc %.4f  test_acc %.4f  lr %.4g  %.0f samples/s  "
          "elapsed %.1fs",
          s->epochs >= 10 ? 2 : 1, s->epoch, s->epochs, s->train_loss, s->train_accuracy,
          s->test_accuracy, s->lr, s->samples_per_sec, s->elapsed_s);
  if (s->skipped_steps)
    fprintf(c->out, "  skipped %ld step%s (--on-nan skip)", s->skipped_steps,
            s->skipped_steps == 1 ? "" : "s");
  fputc('\n', c->out);
  fflush(c->out);
}

static void on_notice(void *ctx, const char *msg)
{
  dpt_console *c = ctx;
  if (c->quiet) return;
  dpt_console_end_line(c);
  fprintf(stderr, "dptrain: notice: %s\n", msg);
}

dpt_observer dpt_console_observer(dpt_console *c)
{
  return (dpt_observer){.ctx = c, .on_step = on_step, .on_epoch = on_epoch, .on_notice = on_notice};
}
