/* Monotonic wall-clock seconds. */
#ifndef DPT_TIMER_H
#define DPT_TIMER_H

double dpt_now(void);

#endif
