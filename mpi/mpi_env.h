/* The job's processes: whether an MPI launcher (mpirun, mpiexec, srun) started this one, and MPI's
 * start and end around a run. dptrain touches MPI only when a launcher started it: a plain start
 * stays one process that never initializes MPI (no start-up cost, no warnings). Without MPI in
 * the build (mpi_env_absent.c) a launch of several processes is refused: each would otherwise
 * train alone and write the same files. */
#ifndef DPT_MPI_ENV_H
#define DPT_MPI_ENV_H

#include <stdbool.h>

#include "dpt/status.h"

typedef struct dpt_mpi_env {
  int rank;     /* this process, 0..size-1 */
  int size;     /* processes in the job; 1 without a launcher */
  bool started; /* MPI_Init_thread ran: finalize or abort ends it */
  /* This process among the job's processes on its node (an MPI_COMM_TYPE_SHARED split) that
   * share its GPUs (dpt_mpi_env_share_node): local_rank of local_size; 0 of 1 without a
   * launcher. */
  int local_rank;
  int local_size;
} dpt_mpi_env;

/* Whether a launcher started this process, from the variables it sets (Open MPI's OMPI_COMM_WORLD_*,
 * PMI_* of MPICH and Slurm, PMIx's PMIX_RANK). *rank: 0 when none says; *size: 0 when unknown. */
bool dpt_mpi_launched(int *rank, int *size);

/* Without a launcher: rank 0 of 1, MPI untouched. With one: MPI_Init_thread asking for
 * MPI_THREAD_MULTIPLE (worker threads call MPI at the same time; a library that cannot is an
 * error), errors returned as codes instead of ending the process, rank and size. */
int dpt_mpi_env_init(int *argc, char ***argv, dpt_mpi_env *env, dpt_err *err);

/* Collective over the job, after init: local_rank and local_size count the processes of this
 * node whose `key` (at most DPT_MPI_NODE_KEY - 1 bytes: the first GPU they see) equals this
 * one's, in world rank order. Processes given disjoint GPUs (CUDA_VISIBLE_DEVICES) share none. */
enum { DPT_MPI_NODE_KEY = 64 };
int dpt_mpi_env_share_node(dpt_mpi_env *env, const char *key, dpt_err *err);

/* After the run, on success: MPI_Finalize when init started MPI. */
void dpt_mpi_env_finalize(dpt_mpi_env *env);

/* After a failure: ends every process of the job with exit status `status` (MPI_Abort), so no
 * process waits for this one. Returns only when MPI was not started. */
void dpt_mpi_env_abort(const dpt_mpi_env *env, int status);

/* "mpi: Open MPI v4.1.4, ... (MPI 3.1)" or "mpi: not built", for --version (MPI not started). */
const char *dpt_mpi_summary(void);

#endif
