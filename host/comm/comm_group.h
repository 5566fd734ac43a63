/* Private to host/: the communicator group the allreduce strategy runs on, picked by the workers'
 * device kind: the in-process one over host memory for CPU devices (dpt/comm.h), NCCL over GPU
 * memory for CUDA devices (host/comm/comm_nccl.h). Ranks are workers; all run on one kind. Over several
 * MPI processes, CPU devices use the hierarchical one (host/comm/comm_hier.h) and CUDA devices one NCCL
 * group spanning every process (its id broadcast over MPI from process 0); the handles' rank and
 * size count every process's workers, while `rank` arguments here stay this process's. */
#ifndef DPT_HOST_COMM_COMM_GROUP_H
#define DPT_HOST_COMM_COMM_GROUP_H

#include "dpt/comm.h"
#include "dpt/device.h"

typedef struct dpt_comm_group dpt_comm_group;

/* size: this process's ranks; procs: the MPI processes, each with as many (1: this one alone).
 * Over several processes, collective: every process calls it, in the same order. */
int dpt_comm_group_create(dpt_device_kind kind, int size, int procs, double timeout_s,
                          dpt_comm_group **out, dpt_err *err);
/* The rank's handle, valid (abort included) until destroy; collectives need attach first. */
dpt_comm dpt_comm_group_rank(dpt_comm_group *g, int rank);
/* From the rank's own thread, which opened dev: binds the rank to its device. */
int dpt_comm_group_attach(dpt_comm_group *g, int rank, const dpt_device *dev, dpt_err *err);
/* From the rank's own thread, after its last collective. */
void dpt_comm_group_detach(dpt_comm_group *g, int rank);
/* Seconds the rank waited for the others in its most recent collective (from its thread). */
double dpt_comm_group_last_wait_s(const dpt_comm_group *g, int rank);
void dpt_comm_group_destroy(dpt_comm_group *g);

#endif
