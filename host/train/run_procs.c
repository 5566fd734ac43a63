#include "host/train/run_procs.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "host/train/run.h"
#include "mpi/mpi_chan.h"

enum { MAX_SUMS = 8, HOST_NAME = 256, BCAST_PIECE = 1 << 30 };

/* What every process must agree on, compared after an allgather; first whether one was asked to
 * stop (its data may then be missing). */
enum { FACT_STOP, FACT_WORKERS, FACT_DEVICE, FACT_TRAIN, FACT_TEST, FACT_FEATURES, FACTS };
static const char *const fact_names[FACTS] = {
    "the stop request", "the worker count (give --workers)", "the device kind",
    "the training samples", "the test samples", "the features"};

struct dpt_run_procs {
  dpt_mpi_chan *chan;
  double *gathered; /* procs x MAX_SUMS: allocated once, not per step */
  uint64_t *values; /* procs, for dpt_run_procs_find_odd */
  int *first_ordinals; /* procs: each one's dpt_run.first_ordinal */
};

static const char stopped_before_training[] =
    "stopped on request before training started: nothing to save";

static int check_stop(const dpt_run *run, const long (*all)[FACTS], dpt_err *err)
{
  for (int p = 0; p < run->procs; p++)
    if (all[p][FACT_STOP])
      return dpt_err_set(err, DPT_EINTERRUPTED, "%s (process %d was asked to stop)",
                         stopped_before_training, p);
  return DPT_OK;
}

static int check_same(const dpt_run *run, const long (*all)[FACTS], dpt_err *err)
{
  const long *mine = all[run->proc_rank];
  for (int p = 0; p < run->procs; p++)
    for (int f = 0; f < FACTS; f++)
      if (all[p][f] != mine[f])
        return dpt_err_set(err, DPT_EINPUT,
                           "MPI processes differ: %s is %ld on process %d, %ld on process %d",
                           fact_names[f], mine[f], run->proc_rank, all[p][f], p);
  return DPT_OK;
}

/* Processes on one node share its cores: a lone worker's BLAS threads (all the cores, see
 * trainer.c) become its process's share. The node is known by its host name. */
static int share_cores(dpt_run *run, dpt_err *err)
{
  char mine[HOST_NAME] = "";
  char(*all)[HOST_NAME] = calloc((size_t)run->procs, sizeof *all);
  if (!all) return dpt_err_set(err, DPT_ENOMEM, "trainer: out of memory");
  gethostname(mine, sizeof mine - 1); /* on failure "": every process then counts as one node */
  int rc = dpt_mpi_chan_allgather(run->mpi->chan, mine, sizeof mine, all, err);
  int here = 0;
  for (int p = 0; p < run->procs && !rc; p++) here += strcmp(all[p], mine) == 0;
  if (!rc && here > 1 && run->blas_threads > 1)
    run->blas_threads = run->blas_threads / here > 1 ? run->blas_threads / here : 1;
  free(all);
  return rc;
}

int dpt_run_procs_setup(dpt_run *run, bool stop, dpt_err *err)
{
  const dpt_config *cfg = run->cfg;
  run->procs = cfg->procs > 1 ? cfg->procs : 1;
  run->proc_rank = run->procs > 1 ? cfg->proc_rank : 0;
  run->first_worker = run->proc_rank * run->workers;
  run->all_workers = run->procs * run->workers;
  if (run->procs == 1)
    return stop ? dpt_err_set(err, DPT_EINTERRUPTED, "%s", stopped_before_training) : DPT_OK;
  dpt_run_procs *m = calloc(1, sizeof *m);
  long(*all)[FACTS] = calloc((size_t)run->procs, sizeof *all);
  if (m) m->gathered = calloc((size_t)run->procs * MAX_SUMS, sizeof *m->gathered);
  if (m) m->values = calloc((size_t)run->procs, sizeof *m->values);
  if (m) m->first_ordinals = calloc((size_t)run->procs, sizeof *m->first_ordinals);
  run->mpi = m;
  int rc = m && m->gathered && m->values && m->first_ordinals && all
               ? DPT_OK
               : dpt_err_set(err, DPT_ENOMEM, "trainer: out of memory");
  if (!rc) rc = dpt_mpi_chan_open("figures", cfg->timeout_s, &m->chan, err);
  long mine[FACTS] = {[FACT_STOP] = stop, [FACT_WORKERS] = run->workers,
                      [FACT_DEVICE] = (long)run->device_kind,
                      [FACT_TRAIN] = (long)run->train->count, [FACT_TEST] = (long)run->test->count,
                      [FACT_FEATURES] = (long)run->train->features};
  if (!rc) rc = dpt_mpi_chan_allgather(m->chan, mine, sizeof mine, all, err);
  if (!rc) rc = check_stop(run, (const long(*)[FACTS])all, err);
  if (!rc) rc = check_same(run, (const long(*)[FACTS])all, err);
  free(all);
  if (!rc) rc = share_cores(run, err);
  if (!rc)
    rc = dpt_mpi_chan_allgather(m->chan, &run->first_ordinal, sizeof run->first_ordinal,
                                m->first_ordinals, err);
  return rc;
}

int dpt_run_procs_first_ordinal(const dpt_run *run, int p)
{
  return run->procs == 1 ? run->first_ordinal : run->mpi->first_ordinals[p];
}

int dpt_run_procs_sum(dpt_run *run, double *sums, int n, dpt_err *err)
{
  if (run->procs == 1) return DPT_OK;
  if (n > MAX_SUMS) return dpt_err_set(err, DPT_EINTERNAL, "trainer: %d sums over processes", n);
  double *all = run->mpi->gathered;
  int rc = dpt_mpi_chan_allgather(run->mpi->chan, sums, (size_t)n * sizeof *sums, all, err);
  for (int i = 0; i < n && !rc; i++) {
    sums[i] = all[i];
    for (int p = 1; p < run->procs; p++) sums[i] += all[p * n + i];
  }
  return rc;
}

int dpt_run_procs_gather(dpt_run *run, const void *mine, size_t bytes, void *all, dpt_err *err)
{
  if (run->procs == 1) {
    memcpy(all, mine, bytes);
    return DPT_OK;
  }
  return dpt_mpi_chan_allgather(run->mpi->chan, mine, bytes, all, err);
}

int dpt_run_procs_find_odd(dpt_run *run, uint64_t mine, int *odd, uint64_t *first,
                           uint64_t *its, dpt_err *err)
{
  *odd = -1;
  if (run->procs == 1) return DPT_OK;
  uint64_t *all = run->mpi->values;
  int rc = dpt_mpi_chan_allgather(run->mpi->chan, &mine, sizeof mine, all, err);
  for (int p = 1; p < run->procs && !rc && *odd < 0; p++)
    if (all[p] != all[0]) {
      *odd = p;
      *first = all[0];
      *its = all[p];
    }
  return rc;
}

int dpt_run_procs_bcast(dpt_run *run, void *buf, size_t bytes, dpt_err *err)
{
  if (run->procs == 1) return DPT_OK;
  int rc = DPT_OK;
  for (size_t at = 0; at < bytes && !rc; at += BCAST_PIECE) /* MPI counts in int */
    rc = dpt_mpi_chan_bcast(run->mpi->chan, (char *)buf + at,
                            bytes - at < BCAST_PIECE ? bytes - at : BCAST_PIECE, 0, err);
  return rc;
}

int dpt_run_procs_share_status(dpt_run *run, int rc, const char *what, const char *awaited,
                               double wait_s, dpt_err *err)
{
  if (run->procs == 1) return rc;
  dpt_err outcome = {0};
  if (rc && run->proc_rank == 0) outcome = *err;
  int shared = dpt_mpi_chan_bcast_awaiting(run->mpi->chan, &outcome, sizeof outcome, 0, wait_s,
                                           awaited, err);
  if (run->proc_rank == 0 || shared) return rc ? rc : shared;
  return outcome.code ? dpt_err_set(err, outcome.code, "%s: %s", what, outcome.msg) : DPT_OK;
}

void dpt_run_procs_abort(dpt_run *run, int code, const char *why)
{
  if (run->mpi && run->mpi->chan) dpt_mpi_chan_abort(run->mpi->chan, code, why);
}

void dpt_run_procs_close(dpt_run *run)
{
  if (!run->mpi) return;
  dpt_mpi_chan_close(run->mpi->chan);
  free(run->mpi->gathered);
  free(run->mpi->values);
  free(run->mpi->first_ordinals);
  free(run->mpi);
  run->mpi = NULL;
}
