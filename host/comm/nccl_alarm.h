/* Private to host/comm: an NCCL group's abort, carried to the group's other MPI processes at once.
 *
 * NCCL frees what the ranks of a node share only once all of them have aborted: ncclCommAbort
 * waits for the other ranks (NVIDIA/nccl issue 863). A process whose ranks fail and abort while
 * the other processes' ranks wait on inside a collective would stay in ncclCommAbort until their
 * --timeout, and its MPI_Abort, which ends the job, would come only then (issue 13, section 3.3).
 * So the group's first abort in a process (dpt_comm_nccl_on_abort) is sent at once to every other
 * process, whose group then aborts too (dpt_comm_nccl_abort_told): every rank of every process
 * ends its communicator within a poll, and each process ends as it would have alone. The message
 * names the process it came from: "process 1: comm nccl: allreduce: rank 2: ...".
 *
 * A thread of this process listens for the others' alarms (a cancellable receive from any
 * process) and sends this process's own. */
#ifndef DPT_HOST_COMM_NCCL_ALARM_H
#define DPT_HOST_COMM_NCCL_ALARM_H

#include "host/comm/comm_nccl.h"
#include "mpi/mpi_chan.h"

typedef struct dpt_nccl_alarm dpt_nccl_alarm;

/* Starts listening on chan (a channel over every process of the group, which the alarm now
 * owns, closed even on failure) and hooks itself to g's abort. Collective over the processes. */
int dpt_nccl_alarm_start(dpt_comm_nccl *g, dpt_mpi_chan *chan, dpt_nccl_alarm **out,
                         dpt_err *err);

/* Once every rank of g detached, before g is destroyed: sends a pending alarm, stops listening,
 * closes the channel (collective, in the order channels were opened). */
void dpt_nccl_alarm_stop(dpt_nccl_alarm *a);

#endif
