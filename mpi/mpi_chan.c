/* The channel over MPI (mpi/mpi_chan.h): non-blocking MPI calls completed by one polling wait. */
#include "mpi/mpi_chan.h"

#include <limits.h>
#include <mpi.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dpt/timer.h"
#include "kernels/kn_math.h"
#include "mpi/mpi_check.h"

enum {
  /* Polls that yield the core before a wait starts sleeping between polls: an exchange often
   * completes within microseconds, but processes may share cores (--oversubscribe, several
   * ranks per node), and a thread that spins on would take the core from one that computes. */
  SPIN_POLLS = 2000,
  SUM_TILE = 1024 /* floats added at a time: the partial sum stays in L1 */
};
static const double POLL_SLEEP_S = 50e-6;
static const char *const OTHERS = "the other processes";

struct dpt_mpi_chan {
  MPI_Comm comm;
  char name[48];
  int rank, size;
  double timeout_s;
  /* dpt_mpi_chan_sum of parts_n floats: part p is [part_starts[p], + part_counts[p]); this
   * process's part from process p lands at scratch + recv_starts[p]. */
  int *part_counts, *part_starts, *recv_counts, *recv_starts;
  size_t parts_n;
  float *scratch;
  size_t scratch_floats;
  /* The abort record: waits poll the code; the first aborter writes the message under the lock
   * before it publishes the code. */
  pthread_mutex_t abort_mu;
  atomic_int abort_code;
  char abort_msg[DPT_ERR_MSG_MAX];
  /* A wait ended before its operation, which MPI could not cancel: it may still write into
   * scratch and the communicator, so close leaves them (the job is ending, see the header). */
  atomic_bool in_flight;
};

void dpt_mpi_chan_abort(dpt_mpi_chan *c, int code, const char *why)
{
  pthread_mutex_lock(&c->abort_mu);
  if (!atomic_load(&c->abort_code)) {
    snprintf(c->abort_msg, sizeof c->abort_msg, "%s", why ? why : "mpi: aborted");
    atomic_store(&c->abort_code, code ? code : DPT_EABORTED);
  }
  pthread_mutex_unlock(&c->abort_mu);
}

/* The abort's code, with its message copied into err; 0 while the channel runs. */
static int abort_error(dpt_mpi_chan *c, dpt_err *err)
{
  if (!atomic_load(&c->abort_code)) return DPT_OK;
  pthread_mutex_lock(&c->abort_mu);
  int code = dpt_err_set(err, atomic_load(&c->abort_code), "%s", c->abort_msg);
  pthread_mutex_unlock(&c->abort_mu);
  return code;
}

/* A failure (rc, described in err: a failed MPI call, a timeout, a bad argument) aborts the
 * channel: no later call may build on it. */
static int check(dpt_mpi_chan *c, int rc, dpt_err *err)
{
  if (rc) dpt_mpi_chan_abort(c, rc, err->msg);
  return rc;
}

/* Every call starts here: a channel aborted earlier fails at once, and MPI counts are ints. */
static int usable(dpt_mpi_chan *c, const char *op, size_t count, dpt_err *err)
{
  int rc = abort_error(c, err);
  if (rc) return rc;
  if (count > INT_MAX)
    return check(c, dpt_err_set(err, DPT_EINPUT, "mpi %s: %s of %zu elements: more than MPI's %d",
                                c->name, op, count, INT_MAX), err);
  return DPT_OK;
}

/* How a wait ends early. */
typedef enum { ONLY_WAIT, RECV_CANCELLABLE } wait_kind;

/* A receive that ended early (rc) is cancelled, so that its buffer is the caller's again. */
static int cancel_recv(dpt_mpi_chan *c, MPI_Request *req, int rc, dpt_err *err)
{
  dpt_err why = {0};
  int crc = check(c, DPT_CHECK_MPI(MPI_Cancel(req), &why), &why);
  if (!crc) crc = check(c, DPT_CHECK_MPI(MPI_Wait(req, MPI_STATUS_IGNORE), &why), &why);
  return crc ? dpt_err_set(err, crc, "%s", why.msg) : rc;
}

/* Completes req: until done, the channel's abort, the deadline (none with cancel), or *cancel.
 * A receive (RECV_CANCELLABLE) that ends early is cancelled; MPI cannot cancel the other
 * operations, which stay in flight (see the header). */
static int wait_req(dpt_mpi_chan *c, const char *op, const char *peer, MPI_Request *req,
                    wait_kind kind, const atomic_bool *cancel, dpt_err *err)
{
  double deadline = !cancel && c->timeout_s > 0 ? dpt_now() + c->timeout_s : 0;
  for (unsigned polls = 0;; polls++) {
    int done = 0;
    int rc = check(c, DPT_CHECK_MPI(MPI_Test(req, &done, MPI_STATUS_IGNORE), err), err);
    if (!rc && done) return DPT_OK;
    if (!rc && cancel && atomic_load(cancel))
      rc = dpt_err_set(err, DPT_EABORTED, "mpi %s: %s: cancelled", c->name, op);
    if (!rc) rc = abort_error(c, err);
    if (!rc && deadline && dpt_now() > deadline)
      rc = check(c, dpt_err_set(err, DPT_ETIMEOUT, "mpi %s: %s: timed out after %g s waiting for %s",
                                c->name, op, c->timeout_s, peer), err);
    if (rc && kind == RECV_CANCELLABLE) return cancel_recv(c, req, rc, err);
    if (rc) {
      atomic_store(&c->in_flight, true);
      return rc;
    }
    if (polls < SPIN_POLLS) sched_yield();
    else dpt_sleep(POLL_SLEEP_S);
  }
}

int dpt_mpi_chan_open(const char *name, double timeout_s, dpt_mpi_chan **out, dpt_err *err)
{
  *out = NULL;
  dpt_mpi_chan *c = calloc(1, sizeof *c);
  if (!c) return dpt_err_set(err, DPT_ENOMEM, "mpi %s: out of memory", name);
  snprintf(c->name, sizeof c->name, "%s", name);
  c->timeout_s = timeout_s;
  c->comm = MPI_COMM_NULL;
  c->parts_n = SIZE_MAX;
  pthread_mutex_init(&c->abort_mu, NULL);
  atomic_init(&c->abort_code, 0);
  atomic_init(&c->in_flight, false);
  int rc = DPT_CHECK_MPI(MPI_Comm_rank(MPI_COMM_WORLD, &c->rank), err);
  if (!rc) rc = DPT_CHECK_MPI(MPI_Comm_size(MPI_COMM_WORLD, &c->size), err);
  if (!rc) {
    size_t p = (size_t)c->size;
    c->part_counts = calloc(p, sizeof(int));
    c->part_starts = calloc(p, sizeof(int));
    c->recv_counts = calloc(p, sizeof(int));
    c->recv_starts = calloc(p, sizeof(int));
    if (!c->part_counts || !c->part_starts || !c->recv_counts || !c->recv_starts)
      rc = dpt_err_set(err, DPT_ENOMEM, "mpi %s: out of memory", name);
  }
  if (rc) {
    dpt_mpi_chan_close(c);
    return rc;
  }
  MPI_Request req;
  rc = DPT_CHECK_MPI(MPI_Comm_idup(MPI_COMM_WORLD, &c->comm, &req), err);
  if (!rc) rc = wait_req(c, "open", OTHERS, &req, ONLY_WAIT, NULL, err);
  if (rc) dpt_mpi_chan_close(c); /* keeps c when the duplicate is still in flight */
  else *out = c;
  return rc;
}

int dpt_mpi_chan_rank(const dpt_mpi_chan *c) { return c->rank; }

int dpt_mpi_chan_size(const dpt_mpi_chan *c) { return c->size; }

int dpt_mpi_chan_allgather(dpt_mpi_chan *c, const void *mine, size_t bytes, void *all,
                           dpt_err *err)
{
  int rc = usable(c, "allgather", bytes, err);
  MPI_Request req;
  if (!rc)
    rc = check(c, DPT_CHECK_MPI(MPI_Iallgather(mine, (int)bytes, MPI_BYTE, all, (int)bytes,
                                               MPI_BYTE, c->comm, &req), err), err);
  return rc ? rc : wait_req(c, "allgather", OTHERS, &req, ONLY_WAIT, NULL, err);
}

/* Part p of n floats is [n p / P, n (p + 1) / P): balanced, possibly empty. */
static int plan_parts(dpt_mpi_chan *c, size_t n, dpt_err *err)
{
  if (c->parts_n == n) return DPT_OK;
  size_t p_count = (size_t)c->size;
  for (size_t p = 0; p < p_count; p++) {
    size_t start = n * p / p_count, end = n * (p + 1) / p_count;
    c->part_starts[p] = (int)start;
    c->part_counts[p] = (int)(end - start);
  }
  size_t mine = (size_t)c->part_counts[c->rank];
  for (size_t p = 0; p < p_count; p++) {
    c->recv_counts[p] = (int)mine;
    c->recv_starts[p] = (int)(p * mine);
  }
  /* Grown on a call's first use of a larger n (the first step), never while MPI runs. */
  if (mine * p_count > c->scratch_floats) {
    float *s = realloc(c->scratch, mine * p_count * sizeof *s);
    if (!s)
      return check(c, dpt_err_set(err, DPT_ENOMEM, "mpi %s: out of memory for %zu floats", c->name, n),
                   err);
    c->scratch = s;
    c->scratch_floats = mine * p_count;
  }
  c->parts_n = n;
  return DPT_OK;
}

/* out[0..len) = copy_0 + copy_1 + ... + copy_{P-1} of this process's part, in that order. */
static void add_in_rank_order(const dpt_mpi_chan *c, float *out, size_t len)
{
  for (size_t t = 0; t < len; t += SUM_TILE) {
    size_t m = len - t < SUM_TILE ? len - t : SUM_TILE;
    float *acc = out + t;
    memcpy(acc, c->scratch + t, m * sizeof *acc);
    for (int p = 1; p < c->size; p++) {
      const float *x = c->scratch + (size_t)p * len + t;
      for (size_t i = 0; i < m; i++) kn_add_at(i, x, acc);
    }
  }
}

int dpt_mpi_chan_sum(dpt_mpi_chan *c, float *buf, size_t n, dpt_err *err)
{
  int rc = usable(c, "sum", n, err);
  if (rc || c->size == 1) return rc;
  rc = plan_parts(c, n, err);
  MPI_Request req;
  if (!rc)
    rc = check(c, DPT_CHECK_MPI(MPI_Ialltoallv(buf, c->part_counts, c->part_starts, MPI_FLOAT,
                                               c->scratch, c->recv_counts, c->recv_starts,
                                               MPI_FLOAT, c->comm, &req), err), err);
  if (!rc) rc = wait_req(c, "sum (reduce-scatter)", OTHERS, &req, ONLY_WAIT, NULL, err);
  if (rc) return rc;
  add_in_rank_order(c, buf + c->part_starts[c->rank], (size_t)c->part_counts[c->rank]);
  rc = check(c, DPT_CHECK_MPI(MPI_Iallgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, buf,
                                              c->part_counts, c->part_starts, MPI_FLOAT, c->comm,
                                              &req), err), err);
  return rc ? rc : wait_req(c, "sum (all-gather)", OTHERS, &req, ONLY_WAIT, NULL, err);
}

size_t dpt_mpi_chan_sum_bytes(size_t n, int procs)
{
  size_t p = procs > 0 ? (size_t)procs : 1;
  return 2 * (p - 1) * n * sizeof(float) / p;
}

int dpt_mpi_chan_bcast(dpt_mpi_chan *c, void *buf, size_t bytes, int root, dpt_err *err)
{
  int rc = usable(c, "broadcast", bytes, err);
  if (!rc && (root < 0 || root >= c->size))
    rc = check(c, dpt_err_set(err, DPT_EINTERNAL, "mpi %s: broadcast from process %d of %d",
                              c->name, root, c->size), err);
  MPI_Request req;
  if (!rc)
    rc = check(c, DPT_CHECK_MPI(MPI_Ibcast(buf, (int)bytes, MPI_BYTE, root, c->comm, &req), err),
               err);
  return rc ? rc : wait_req(c, "broadcast", OTHERS, &req, ONLY_WAIT, NULL, err);
}

int dpt_mpi_chan_barrier(dpt_mpi_chan *c, dpt_err *err)
{
  int rc = usable(c, "barrier", 0, err);
  MPI_Request req;
  if (!rc) rc = check(c, DPT_CHECK_MPI(MPI_Ibarrier(c->comm, &req), err), err);
  return rc ? rc : wait_req(c, "barrier", OTHERS, &req, ONLY_WAIT, NULL, err);
}

int dpt_mpi_chan_send(dpt_mpi_chan *c, const void *buf, size_t bytes, int to, int tag,
                      dpt_err *err)
{
  char peer[32];
  snprintf(peer, sizeof peer, "process %d", to);
  int rc = usable(c, "send", bytes, err);
  MPI_Request req;
  if (!rc)
    rc = check(c, DPT_CHECK_MPI(MPI_Isend(buf, (int)bytes, MPI_BYTE, to, tag, c->comm, &req), err),
               err);
  return rc ? rc : wait_req(c, "send", peer, &req, ONLY_WAIT, NULL, err);
}

int dpt_mpi_chan_recv(dpt_mpi_chan *c, void *buf, size_t bytes, int from, int tag,
                      const atomic_bool *cancel, dpt_err *err)
{
  char peer[32];
  snprintf(peer, sizeof peer, "process %d", from);
  int rc = usable(c, "receive", bytes, err);
  MPI_Request req;
  if (!rc)
    rc = check(c, DPT_CHECK_MPI(MPI_Irecv(buf, (int)bytes, MPI_BYTE, from, tag, c->comm, &req),
                                err), err);
  return rc ? rc : wait_req(c, "receive", peer, &req, RECV_CANCELLABLE, cancel, err);
}

void dpt_mpi_chan_close(dpt_mpi_chan *c)
{
  if (!c) return;
  if (atomic_load(&c->in_flight)) return;
  if (c->comm != MPI_COMM_NULL) MPI_Comm_free(&c->comm); /* no failure to act on at close */
  free(c->part_counts);
  free(c->part_starts);
  free(c->recv_counts);
  free(c->recv_starts);
  free(c->scratch);
  pthread_mutex_destroy(&c->abort_mu);
  free(c);
}
