#include "host/cli/console.h"

#include <unistd.h>

#include "dpt/timer.h"

void dpt_console_init(dpt_console *c, FILE *out, FILE *bar_stream, bool quiet)
{
  c->out = out;
  c->bar = (!quiet && bar_stream && isatty(fileno(bar_stream))) ? bar_stream : NULL;
  c->quiet = quiet;
  c->last_draw_s = 0;
  c->bar_width = 0;
}

static void clear_bar(dpt_console *c)
{
  if (!c->bar || !c->bar_width) return;
  fprintf(c->bar, "\r%*s\r", c->bar_width, "");
  fflush(c->bar);
  c->bar_width = 0;
}

static void on_step(void *ctx, const dpt_step_stats *s)
{
  dpt_console *c = ctx;
  if (!c->bar) return;
  long step = s->step_in_epoch, steps = s->steps_per_epoch;
  double elapsed = s->epoch_elapsed_s;
  double now = dpt_now();
  if (step < steps && now - c->last_draw_s < 0.1) return; /* redraw at most 10 times a second */
  c->last_draw_s = now;
  enum { BAR = 30 };
  int filled = (int)(BAR * step / steps);
  char bar[BAR + 1];
  for (int i = 0; i < BAR; i++) bar[i] = i < filled ? '=' : (i == filled ? '>' : ' ');
  bar[BAR] = '\0';
  double rate = elapsed > 0 ? (double)s->samples_done / elapsed : 0;
  double eta = step > 0 ? elapsed * (double)(steps - step) / (double)step : 0;
  c->bar_width = fprintf(c->bar, "\repoch %d [%s] %3d%%  %.0f samples/s  ETA %.0fs ", s->epoch, bar,
                         (int)(100 * step / steps), rate, eta);
  fflush(c->bar);
}

static void on_epoch(void *ctx, const dpt_epoch_stats *s)
{
  dpt_console *c = ctx;
  clear_bar(c);
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
  if (!c->quiet) fprintf(stderr, "dptrain: notice: %s\n", msg);
}

dpt_observer dpt_console_observer(dpt_console *c)
{
  return (dpt_observer){.ctx = c, .on_step = on_step, .on_epoch = on_epoch, .on_notice = on_notice};
}
