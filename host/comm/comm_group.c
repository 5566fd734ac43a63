/* Picks the communicator by device kind and process count (host/comm/comm_group.h): exactly one
 * backend is set. */
#include "host/comm/comm_group.h"

#include <stdbool.h>
#include <stdlib.h>

#include "host/comm/comm_hier.h"
#include "host/comm/comm_nccl.h"
#include "host/comm/nccl_alarm.h"
#include "host/comm/comm_threads_wait.h"
#include "mpi/mpi_chan.h"

struct dpt_comm_group {
  dpt_device_kind kind;
  dpt_comm_threads *threads; /* CPU devices */
  dpt_comm_nccl *nccl;       /* CUDA devices */
  dpt_nccl_alarm *alarm;     /* CUDA devices over several processes: carries an abort */
  dpt_comm_hier *hier;       /* CPU devices over several processes */
};

/* NCCL's initialisation takes seconds on NVSwitch machines (more over several nodes): a short
 * --timeout, meant for a step's collectives, must not fail it. */
static const double NCCL_INIT_MIN_S = 60.0;

static double nccl_init_timeout(double timeout_s)
{
  return timeout_s > 0 && timeout_s < NCCL_INIT_MIN_S ? NCCL_INIT_MIN_S : timeout_s;
}

static const char *kind_name(dpt_device_kind kind)
{
  return kind == DPT_DEVICE_CUDA ? "cuda" : "cpu";
}

/* One NCCL group over every process's ranks: process p's local rank w is rank p x size + w of
 * procs x size. Process 0 makes the id and broadcasts it on a channel of its own (collective: every
 * process opens it here, in the same order as its other channels), bounded by timeout_s and
 * aborted by a failure like any wait between processes; the channel then carries the group's
 * aborts between the processes (host/comm/nccl_alarm.h). */
static int nccl_over_procs(int size, int procs, double timeout_s, dpt_comm_nccl **out,
                           dpt_nccl_alarm **alarm, dpt_err *err)
{
  dpt_mpi_chan *chan = NULL;
  unsigned char id[DPT_COMM_NCCL_ID_BYTES] = {0};
  int rc = dpt_mpi_chan_open("nccl id", timeout_s, &chan, err);
  int proc = rc ? 0 : dpt_mpi_chan_rank(chan);
  if (!rc && dpt_mpi_chan_size(chan) != procs)
    rc = dpt_err_set(err, DPT_EINTERNAL, "comm: %d MPI processes, the run counts %d",
                     dpt_mpi_chan_size(chan), procs);
  /* A failure on process 0 leaves the others waiting in the broadcast: its MPI_Abort ends them. */
  if (!rc && proc == 0) rc = dpt_comm_nccl_make_id(id, err);
  if (!rc) rc = dpt_mpi_chan_bcast(chan, id, sizeof id, 0, err);
  if (!rc) rc = dpt_comm_nccl_create_span(size, proc * size, procs * size, id, timeout_s, out, err);
  if (rc) {
    dpt_mpi_chan_close(chan);
    return rc;
  }
  rc = dpt_nccl_alarm_start(*out, chan, alarm, err); /* the alarm owns the channel */
  if (rc) {
    dpt_comm_nccl_destroy(*out);
    *out = NULL;
  }
  return rc;
}

int dpt_comm_group_create(dpt_device_kind kind, int size, int procs, double timeout_s,
                          dpt_comm_group **out, dpt_err *err)
{
  *out = NULL;
  dpt_comm_group *g = calloc(1, sizeof *g);
  if (!g) return dpt_err_set(err, DPT_ENOMEM, "comm: out of memory");
  g->kind = kind;
  bool cuda = kind == DPT_DEVICE_CUDA;
  int rc = cuda && procs > 1 ? nccl_over_procs(size, procs, timeout_s, &g->nccl, &g->alarm, err)
           : cuda            ? dpt_comm_nccl_create(size, timeout_s, &g->nccl, err)
           : procs > 1       ? dpt_comm_hier_create(size, timeout_s, &g->hier, err)
                             : dpt_comm_threads_create(size, timeout_s, &g->threads, err);
  if (rc) {
    free(g);
    return rc;
  }
  if (g->nccl) dpt_comm_nccl_set_init_timeout(g->nccl, nccl_init_timeout(timeout_s));
  *out = g;
  return DPT_OK;
}

dpt_comm dpt_comm_group_rank(dpt_comm_group *g, int rank)
{
  return g->nccl   ? dpt_comm_nccl_rank(g->nccl, rank)
         : g->hier ? dpt_comm_hier_rank(g->hier, rank)
                   : dpt_comm_threads_rank(g->threads, rank);
}

int dpt_comm_group_attach(dpt_comm_group *g, int rank, const dpt_device *dev, dpt_err *err)
{
  if (dev->kind != g->kind)
    return dpt_err_set(err, DPT_EINTERNAL, "comm: rank %d runs on %s, the group on %s", rank,
                       kind_name(dev->kind), kind_name(g->kind));
  /* The in-process ranks need nothing per thread; an NCCL rank makes its communicator. */
  /* On the device's own stream: the queued allreduce runs behind its backward pass. */
  return g->nccl ? dpt_comm_nccl_attach_on(g->nccl, rank, dev->index, dpt_dev_stream(dev), err)
                 : DPT_OK;
}

void dpt_comm_group_detach(dpt_comm_group *g, int rank)
{
  if (g->nccl) dpt_comm_nccl_detach(g->nccl, rank);
}

double dpt_comm_group_last_wait_s(const dpt_comm_group *g, int rank)
{
  return g->nccl   ? dpt_comm_nccl_last_wait_s(g->nccl, rank)
         : g->hier ? dpt_comm_hier_last_wait_s(g->hier, rank)
                   : dpt_comm_threads_last_wait_s(g->threads, rank);
}

void dpt_comm_group_destroy(dpt_comm_group *g)
{
  if (!g) return;
  dpt_nccl_alarm_stop(g->alarm); /* every rank detached: none can abort now */
  dpt_comm_nccl_destroy(g->nccl);
  dpt_comm_threads_destroy(g->threads);
  dpt_comm_hier_destroy(g->hier);
  free(g);
}
