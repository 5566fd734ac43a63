#include "mpi/mpi_check.h"

#include <mpi.h>
#include <string.h>

int dpt_mpi_status(int code, const char *call, const char *file, int line, dpt_err *err)
{
  if (code == MPI_SUCCESS) return DPT_OK;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (MPI_Error_string(code, text, &len) != MPI_SUCCESS) len = 0;
  text[len] = '\0';
  const char *slash = strrchr(file, '/');
  return dpt_err_set(err, DPT_ECOMM, "mpi: %s:%d: %s: %s", slash ? slash + 1 : file, line, call,
                     len ? text : "unknown MPI error");
}
