#include "mpi/mpi_env.h"

#include <mpi.h>
#include <stdio.h>
#include <string.h>

#include "mpi/mpi_check.h"

int dpt_mpi_env_init(int *argc, char ***argv, dpt_mpi_env *env, dpt_err *err)
{
  *env = (dpt_mpi_env){.rank = 0, .size = 1};
  int launcher_rank, launcher_size;
  if (!dpt_mpi_launched(&launcher_rank, &launcher_size)) return DPT_OK;
  int provided = MPI_THREAD_SINGLE;
  int rc = DPT_CHECK_MPI(MPI_Init_thread(argc, argv, MPI_THREAD_MULTIPLE, &provided), err);
  if (rc) return rc;
  env->started = true;
  /* Failures come back as codes, which DPT_CHECK_MPI turns into messages; the communicators the
   * run duplicates from this one inherit the handler. */
  rc = DPT_CHECK_MPI(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN), err);
  if (!rc && provided < MPI_THREAD_MULTIPLE)
    rc = dpt_err_set(err, DPT_ECOMM,
                     "mpi: the MPI library offers thread level %d, not MPI_THREAD_MULTIPLE (%d): "
                     "dptrain's worker threads call MPI at the same time",
                     provided, MPI_THREAD_MULTIPLE);
  if (!rc) rc = DPT_CHECK_MPI(MPI_Comm_rank(MPI_COMM_WORLD, &env->rank), err);
  if (!rc) rc = DPT_CHECK_MPI(MPI_Comm_size(MPI_COMM_WORLD, &env->size), err);
  return rc;
}

void dpt_mpi_env_finalize(dpt_mpi_env *env)
{
  if (!env->started) return;
  MPI_Finalize(); /* the run is over and reported: nothing is left to do with a failure here */
  env->started = false;
}

void dpt_mpi_env_abort(const dpt_mpi_env *env, int status)
{
  if (env->started) MPI_Abort(MPI_COMM_WORLD, status);
}

/* Both queries are allowed before MPI_Init. */
const char *dpt_mpi_summary(void)
{
  static _Thread_local char line[160];
  char lib[MPI_MAX_LIBRARY_VERSION_STRING] = "";
  int len = 0, version = 0, subversion = 0;
  if (MPI_Get_library_version(lib, &len) != MPI_SUCCESS) lib[0] = '\0';
  lib[strcspn(lib, ",\n")] = '\0'; /* the first clause: "Open MPI v4.1.4" */
  if (MPI_Get_version(&version, &subversion) != MPI_SUCCESS) version = subversion = 0;
  snprintf(line, sizeof line, "mpi: %s (MPI %d.%d)", lib[0] ? lib : "unknown library", version,
           subversion);
  return line;
}
