#include "mpi/mpi_env.h"

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mpi/mpi_check.h"

int dpt_mpi_env_init(int *argc, char ***argv, dpt_mpi_env *env, dpt_err *err)
{
  *env = (dpt_mpi_env){.rank = 0, .size = 1, .local_rank = 0, .local_size = 1};
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

/* The processes that share this one's memory are those of its node. */
int dpt_mpi_env_share_node(dpt_mpi_env *env, const char *key, dpt_err *err)
{
  if (!env->started) return DPT_OK;
  char mine[DPT_MPI_NODE_KEY] = "";
  snprintf(mine, sizeof mine, "%s", key);
  MPI_Comm node = MPI_COMM_NULL;
  int rc = DPT_CHECK_MPI(
      MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, env->rank, MPI_INFO_NULL, &node),
      err);
  int rank = 0, size = 1;
  if (!rc) rc = DPT_CHECK_MPI(MPI_Comm_rank(node, &rank), err);
  if (!rc) rc = DPT_CHECK_MPI(MPI_Comm_size(node, &size), err);
  char(*all)[DPT_MPI_NODE_KEY] = rc ? NULL : calloc((size_t)size, sizeof *all);
  if (!rc && !all) rc = dpt_err_set(err, DPT_ENOMEM, "mpi: out of memory");
  if (!rc)
    rc = DPT_CHECK_MPI(
        MPI_Allgather(mine, sizeof mine, MPI_CHAR, all, sizeof mine, MPI_CHAR, node), err);
  if (!rc) {
    env->local_rank = env->local_size = 0;
    for (int p = 0; p < size; p++) {
      if (strcmp(all[p], mine) != 0) continue;
      if (p < rank) env->local_rank++;
      env->local_size++;
    }
  }
  free(all);
  if (node != MPI_COMM_NULL) MPI_Comm_free(&node);
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
