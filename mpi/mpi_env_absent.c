/* dpt_mpi_env without MPI in the build: always one process. */
#include "mpi/mpi_env.h"

int dpt_mpi_env_init(int *argc, char ***argv, dpt_mpi_env *env, dpt_err *err)
{
  *env = (dpt_mpi_env){.rank = 0, .size = 1, .local_rank = 0, .local_size = 1};
  int rank, size;
  if (dpt_mpi_launched(&rank, &size) && size > 1)
    return dpt_err_set(err, DPT_EINPUT,
                       "started by an MPI launcher as process %d of %d, but this dptrain was built "
                       "without MPI (configure with -DDPT_MPI=ON)",
                       rank, size);
  return DPT_OK;
}

int dpt_mpi_env_share_node(dpt_mpi_env *env, const char *key, dpt_err *err) { return DPT_OK; }

void dpt_mpi_env_finalize(dpt_mpi_env *env) {}

void dpt_mpi_env_abort(const dpt_mpi_env *env, int status) {}

const char *dpt_mpi_summary(void) { return "mpi: not built"; }
