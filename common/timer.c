#include "dpt/timer.h"

#include <time.h>

double dpt_now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void dpt_sleep(double seconds)
{
  if (!(seconds > 0)) return;
  if (seconds > 1e9) seconds = 1e9; /* keeps tv_sec inside time_t */
  struct timespec ts = {.tv_sec = (time_t)seconds};
  ts.tv_nsec = (long)((seconds - (double)ts.tv_sec) * 1e9);
  nanosleep(&ts, NULL);
}
