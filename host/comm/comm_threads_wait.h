/* Private to host/: how long a rank of the in-process communicator sat in barriers, so the
 * allreduce strategy can split its time into moving bytes and waiting for the slowest worker
 * without widening the comm table every backend implements. */
#ifndef DPT_HOST_COMM_COMM_THREADS_WAIT_H
#define DPT_HOST_COMM_COMM_THREADS_WAIT_H

#include "dpt/comm.h"

/* Seconds rank spent blocked in barriers during its most recent call (call from rank's thread). */
double dpt_comm_threads_last_wait_s(const dpt_comm_threads *g, int rank);

#endif
