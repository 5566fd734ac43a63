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

void dpt_cond_init_monotonic(pthread_cond_t *cv)
{
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(cv, &ca);
  pthread_condattr_destroy(&ca);
}

struct timespec dpt_deadline_after(double seconds)
{
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  if (seconds > 1e9) seconds = 1e9; /* keeps the sum inside time_t */
  long long ns = (long long)t.tv_nsec + (long long)((seconds - (double)(long long)seconds) * 1e9);
  t.tv_sec += (time_t)seconds + (time_t)(ns / 1000000000LL);
  t.tv_nsec = (long)(ns % 1000000000LL);
  return t;
}
