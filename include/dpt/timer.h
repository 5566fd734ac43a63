/* Monotonic wall-clock seconds, and sleeping. */
#ifndef DPT_TIMER_H
#define DPT_TIMER_H

double dpt_now(void);

/* Sleeps about `seconds` (<= 0: returns at once); a signal may end it early. */
void dpt_sleep(double seconds);

#endif
