#include "host/comm/nccl_check.h"

#include <string.h>

int dpt_nccl_status(ncclResult_t r, const char *call, const char *file, int line, dpt_err *err)
{
  if (r == ncclSuccess || r == ncclInProgress) return DPT_OK;
  const char *slash = strrchr(file, '/');
  /* The error string is generic ("invalid usage"); NCCL keeps the cause, e.g. "Bootstrap : no
   * socket interface found", as its last error (NULL: not tied to one communicator). */
  const char *cause = ncclGetLastError(NULL);
  return dpt_err_set(err, DPT_ECOMM, "nccl: %s:%d: %s: %s%s%s", slash ? slash + 1 : file, line,
                     call, ncclGetErrorString(r), cause && cause[0] ? ": " : "",
                     cause ? cause : "");
}
