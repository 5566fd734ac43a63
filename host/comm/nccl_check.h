/* DPT_CHECK_NCCL: wraps an NCCL call like DPT_CHECK_CUDA (kernels/cuda_check.h) and evaluates to
 * 0, or to DPT_ECOMM after recording "nccl: <file>:<line>: <call>: <NCCL's message>" in err.
 *   int rc = DPT_CHECK_NCCL(ncclGetUniqueId(&id), err);
 * ncclInProgress counts as success: a non-blocking communicator's call was accepted and its
 * completion is polled with ncclCommGetAsyncError. Private to the NCCL sources; built only with
 * NCCL. */
#ifndef DPT_HOST_COMM_NCCL_CHECK_H
#define DPT_HOST_COMM_NCCL_CHECK_H

#include <nccl.h>

#include "dpt/status.h"

int dpt_nccl_status(ncclResult_t r, const char *call, const char *file, int line, dpt_err *err);

#define DPT_CHECK_NCCL(call, err) dpt_nccl_status((call), #call, __FILE__, __LINE__, (err))

#endif
