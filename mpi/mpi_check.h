/* Private to mpi/: DPT_CHECK_MPI wraps an MPI call (made under MPI_ERRORS_RETURN) and evaluates to
 * 0, or to DPT_ECOMM with "mpi: file:line: call: MPI's error string" recorded in err:
 *   int rc = DPT_CHECK_MPI(MPI_Comm_rank(comm, &rank), err); */
#ifndef DPT_MPI_CHECK_H
#define DPT_MPI_CHECK_H

#include "dpt/status.h"

#define DPT_CHECK_MPI(call, err) dpt_mpi_status((call), #call, __FILE__, __LINE__, (err))

int dpt_mpi_status(int code, const char *call, const char *file, int line, dpt_err *err);

#endif
