#include "host/cli/progress_line.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

enum { BAR_MAX = 30, BAR_MIN = 6 };

/* 42 -> "42s", 125 -> "2m05s", 3725 -> "1h02m"; "?" when unknown. */
static void duration(char *buf, size_t size, double s)
{
  long t = s < 1e8 ? (long)(s + 0.5) : 100000000L;
  if (s < 0 || isnan(s)) snprintf(buf, size, "?");
  else if (t < 60) snprintf(buf, size, "%lds", t);
  else if (t < 3600) snprintf(buf, size, "%ldm%02lds", t / 60, t % 60);
  else snprintf(buf, size, "%ldh%02ldm", t / 3600, t % 3600 / 60);
}

/* " [=====>    ]" of width bar + 3, into buf. */
static void draw_bar(char *buf, int bar, long step, long steps)
{
  int filled = (int)(bar * step / steps);
  buf[0] = ' ';
  buf[1] = '[';
  for (int i = 0; i < bar; i++) buf[2 + i] = i < filled ? '=' : (i == filled ? '>' : ' ');
  buf[2 + bar] = ']';
  buf[3 + bar] = '\0';
}

int dpt_progress_line(const dpt_progress *p, int columns, char *buf, size_t size)
{
  long steps = p->steps_per_epoch > 0 ? p->steps_per_epoch : 1;
  char head[32], percent[16], rate[40], eta[96], epoch_eta[32], run_eta[32], bar[BAR_MAX + 4] = "";
  duration(epoch_eta, sizeof epoch_eta, p->epoch_eta_s);
  duration(run_eta, sizeof run_eta, p->run_eta_s);
  snprintf(head, sizeof head, "epoch %d/%d", p->epoch, p->epochs);
  snprintf(percent, sizeof percent, " %3d%%", (int)(100 * p->step_in_epoch / steps));
  snprintf(rate, sizeof rate, "  %.0f samples/s", p->samples_per_sec);
  snprintf(eta, sizeof eta, "  ETA epoch %s, run %s", epoch_eta, run_eta);
  int room = (columns > 1 ? columns : 2) - 1;
  /* While too wide, leave out the rate, then the bar (after shrinking it to BAR_MIN), then the
   * run's ETA; cut what is still too wide. */
  int text = (int)(strlen(head) + strlen(percent) + strlen(eta));
  if (text + (int)strlen(rate) + 3 + BAR_MIN > room) rate[0] = '\0';
  text += (int)strlen(rate);
  int bar_width = room - text - 3 < BAR_MAX ? room - text - 3 : BAR_MAX;
  if (bar_width >= BAR_MIN) draw_bar(bar, bar_width, p->step_in_epoch, steps);
  else if (text > room) snprintf(eta, sizeof eta, "  ETA epoch %s", epoch_eta);
  int len = snprintf(buf, size, "%s%s%s%s%s", head, bar, percent, rate, eta);
  if (len < 0) len = 0;
  if ((size_t)len >= size) len = (int)size - 1;
  if (len > room) len = room;
  buf[len] = '\0';
  return len;
}
