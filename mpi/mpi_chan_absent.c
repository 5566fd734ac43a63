/* dpt_mpi_chan without MPI in the build: no channel opens (dpt_mpi_env_init never reports more
 * than one process here, so the run never asks), and the rest is unreachable without one. */
#include "mpi/mpi_chan.h"

static int absent(dpt_err *err)
{
  return dpt_err_set(err, DPT_EINTERNAL, "mpi: this dptrain was built without MPI");
}

int dpt_mpi_chan_open(const char *name, double timeout_s, dpt_mpi_chan **out, dpt_err *err)
{
  *out = NULL;
  return absent(err);
}

void dpt_mpi_chan_name_workers(dpt_mpi_chan *c, int local_worker, int workers_per_process) {}

int dpt_mpi_chan_rank(const dpt_mpi_chan *c) { return 0; }

int dpt_mpi_chan_size(const dpt_mpi_chan *c) { return 1; }

int dpt_mpi_chan_allgather(dpt_mpi_chan *c, const void *mine, size_t bytes, void *all,
                           dpt_err *err)
{
  return absent(err);
}

int dpt_mpi_chan_sum(dpt_mpi_chan *c, float *buf, size_t n, dpt_err *err) { return absent(err); }

size_t dpt_mpi_chan_sum_bytes(size_t n, int procs) { return 0; }

int dpt_mpi_chan_bcast(dpt_mpi_chan *c, void *buf, size_t bytes, int root, dpt_err *err)
{
  return absent(err);
}

int dpt_mpi_chan_bcast_awaiting(dpt_mpi_chan *c, void *buf, size_t bytes, int root,
                                double timeout_s, const char *awaited, dpt_err *err)
{
  return absent(err);
}

int dpt_mpi_chan_barrier(dpt_mpi_chan *c, dpt_err *err) { return absent(err); }

int dpt_mpi_chan_send(dpt_mpi_chan *c, const void *buf, size_t bytes, int to, int tag,
                      dpt_err *err)
{
  return absent(err);
}

int dpt_mpi_chan_recv(dpt_mpi_chan *c, void *buf, size_t bytes, int from, int tag,
                      const atomic_bool *cancel, dpt_err *err)
{
  return absent(err);
}

void dpt_mpi_chan_abort(dpt_mpi_chan *c, int code, const char *why) {}

void dpt_mpi_chan_close(dpt_mpi_chan *c) {}
