/* Private to host/: the allreduce across MPI processes for CPU devices, a dpt_comm whose ranks are
 * P processes x N worker threads each (rank = process rank x N + local rank). One call runs in
 * three stages, each in a fixed order, so the result is bit-reproducible:
 *   1. in the process, the in-process reduce-scatter: local rank w's chunk w becomes
 *      s_p = g_{p,0} + g_{p,1} + ... + g_{p,N-1} (host/comm/comm_threads.c);
 *   2. across processes, local rank w sums chunk w with the chunks w of the other processes on
 *      its own MPI channel, in process order: s_0 + s_1 + ... + s_{P-1} (mpi/mpi_chan.h);
 *   3. in the process, the in-process all-gather.
 * Every element is thus sum over p (in order) of (sum over w (in order) of g_{p,w}). The parameter
 * server under MPI adds in this order too (ps/ps_server.c), so both strategies give the same bits;
 * with one worker per process it is g_0 + g_1 + ... + g_{P-1}, the order of one process with P
 * workers. Creating the group opens N channels: collective over every process. */
#ifndef DPT_HOST_COMM_COMM_HIER_H
#define DPT_HOST_COMM_COMM_HIER_H

#include "dpt/comm.h"

typedef struct dpt_comm_hier dpt_comm_hier;

/* size: this process's ranks (every process has as many); timeout_s bounds every wait. */
int dpt_comm_hier_create(int size, double timeout_s, dpt_comm_hier **out, dpt_err *err);
/* Local rank's handle: its rank and size count every process's ranks. */
dpt_comm dpt_comm_hier_rank(dpt_comm_hier *h, int local_rank);
/* Seconds local_rank waited for the process's other ranks in its most recent call. */
double dpt_comm_hier_last_wait_s(const dpt_comm_hier *h, int local_rank);
void dpt_comm_hier_destroy(dpt_comm_hier *h);

#endif
