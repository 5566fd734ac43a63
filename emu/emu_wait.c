/* The emulator's waits: short timed waits on the monotonic clock, bounded
 * overall. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "emu/emu_internal.h"

double emu_now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* DPT_CUDA_EMU_WAIT_LIMIT_S, default 600: longer than any test's own deadline,
 * so a hang in the code under test shows as that code's timeout, and the
 * emulator only ends what nothing else would. Read once. */
static double wait_limit = -1;
static pthread_once_t limit_once = PTHREAD_ONCE_INIT;

static void read_limit(void)
{
  const char *v = getenv("DPT_CUDA_EMU_WAIT_LIMIT_S");
  char *end = NULL;
  wait_limit = v && *v ? strtod(v, &end) : 600.0;
  if (v && *v && (*end || !(wait_limit > 0))) {
    fprintf(stderr, "dpt cuda emulator: DPT_CUDA_EMU_WAIT_LIMIT_S='%s': expected seconds > 0\n", v);
    exit(2);
  }
}

double emu_wait_limit_s(void)
{
  pthread_once(&limit_once, read_limit);
  return wait_limit;
}

void emu_cond_init(pthread_cond_t *cv)
{
  pthread_condattr_t a;
  pthread_condattr_init(&a);
  pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
  pthread_cond_init(cv, &a);
  pthread_condattr_destroy(&a);
}

struct timespec emu_poll_deadline(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  ts.tv_nsec += EMU_POLL_MS * 1000000L;
  if (ts.tv_nsec >= 1000000000L) {
    ts.tv_sec += 1;
    ts.tv_nsec -= 1000000000L;
  }
  return ts;
}

void emu_cond_poll(pthread_cond_t *cv, pthread_mutex_t *mu)
{
  struct timespec ts = emu_poll_deadline();
  pthread_cond_timedwait(cv, mu, &ts);
}
