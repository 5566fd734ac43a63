/* The machine's cores, for sizing thread counts. */
#ifndef DPT_CORES_H
#define DPT_CORES_H

/* Cores online now, at least 1 (1 when the system cannot tell). */
int dpt_cores_online(void);

#endif
