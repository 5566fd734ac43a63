/* Monotonic wall-clock seconds, sleeping, and the deadlines of condition-variable waits. */
#ifndef DPT_TIMER_H
#define DPT_TIMER_H

#include <pthread.h>
#include <time.h>

double dpt_now(void);

/* Sleeps about `seconds` (<= 0: returns at once); a signal may end it early. */
void dpt_sleep(double seconds);

/* A condition variable whose timed waits use CLOCK_MONOTONIC, immune to wall-clock changes. */
void dpt_cond_init_monotonic(pthread_cond_t *cv);

/* The CLOCK_MONOTONIC time `seconds` from now: the deadline of a timed wait on such a condition
 * variable. */
struct timespec dpt_deadline_after(double seconds);

#endif
