/* The NCCL communicator of a build without NCCL (CMake compiles this instead of comm_nccl.c):
 * creating a group is the user's mistake, so no group exists and the rest is never reached. */
#include "host/comm/comm_nccl.h"

static int absent(dpt_err *err)
{
  return dpt_err_set(err, DPT_EINPUT,
                     "allreduce on cuda: this build has no NCCL (use --strategy ps, or rebuild "
                     "with NCCL installed; NCCL_HOME names its folder)");
}

int dpt_comm_nccl_create(int size, double timeout_s, dpt_comm_nccl **out, dpt_err *err)
{
  *out = NULL;
  return absent(err);
}

int dpt_comm_nccl_make_id(unsigned char id[DPT_COMM_NCCL_ID_BYTES], dpt_err *err)
{
  return absent(err);
}

int dpt_comm_nccl_create_span(int size, int first, int total,
                              const unsigned char id[DPT_COMM_NCCL_ID_BYTES], double timeout_s,
                              dpt_comm_nccl **out, dpt_err *err)
{
  *out = NULL;
  return absent(err);
}

void dpt_comm_nccl_set_init_timeout(dpt_comm_nccl *g, double init_timeout_s) {}

dpt_comm dpt_comm_nccl_rank(dpt_comm_nccl *g, int rank) { return (dpt_comm){.rank = rank}; }

int dpt_comm_nccl_attach(dpt_comm_nccl *g, int rank, int cuda_ordinal, dpt_err *err)
{
  return dpt_comm_nccl_attach_on(g, rank, cuda_ordinal, NULL, err);
}

int dpt_comm_nccl_attach_on(dpt_comm_nccl *g, int rank, int cuda_ordinal, void *device_stream,
                            dpt_err *err)
{
  return dpt_err_set(err, DPT_EINTERNAL, "comm nccl: rank %d: this build has no NCCL", rank);
}

void dpt_comm_nccl_detach(dpt_comm_nccl *g, int rank) {}

void dpt_comm_nccl_on_abort(dpt_comm_nccl *g, dpt_comm_nccl_abort_fn fn, void *ctx) {}

void dpt_comm_nccl_abort_told(dpt_comm_nccl *g, int code, const char *why) {}

double dpt_comm_nccl_last_wait_s(const dpt_comm_nccl *g, int rank) { return 0; }

void dpt_comm_nccl_destroy(dpt_comm_nccl *g) {}
