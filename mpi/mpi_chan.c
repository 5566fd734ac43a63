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
  SUM_TILE = 1024, /* floats added at a time: the partial sum stays in L1 */
  /* dpt_mpi_chan_sum's point-to-point messages (see the header: above DPT_MPI_CHAN_TAG_MAX) */
  TAG_SUM_PARTS = DPT_MPI_CHAN_TAG_MAX + 1,
  TAG_SUM_GATHER = DPT_MPI_CHAN_TAG_MAX + 2
};
static const double POLL_SLEEP_S = 50e-6;
static const char *const OTHERS = "the other processes";

struct dpt_mpi_chan {
  MPI_Comm comm;
  char name[48];
  int rank, size;
  double timeout_s;
  /* dpt_mpi_chan_name_workers: the local worker this channel joins over the processes, and the
   * workers per process; local_worker -1: messages name processes only. */
  int local_worker, workers_per_process;
  /* dpt_mpi_chan_sum of parts_n floats: part p is [part_starts[p], + part_counts[p]); process
   * p's copy of this process's part lands at scratch + p x part_counts[rank]. */
  int *part_counts, *part_starts;
  size_t parts_n;
  float *scratch;
  size_t scratch_floats;
  /* The sum's requests with process q: reqs[2q] receives, reqs[2q + 1] sends (MPI_REQUEST_NULL
   * once complete, and for this process); indices for MPI_Testsome. */
  MPI_Request *reqs;
  int *indices;
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

/* "process 1 (worker 3), process 2 (worker 5)": the processes the sum's requests still wait
 * for; "the other processes" when none is left. */
static void describe_pending(const dpt_mpi_chan *c, char *buf, size_t size)
{
  size_t len = 0;
  buf[0] = '\0';
  for (int q = 0; q < c->size && len < size; q++) {
    if (c->reqs[2 * q] == MPI_REQUEST_NULL && c->reqs[2 * q + 1] == MPI_REQUEST_NULL) continue;
    len += (size_t)snprintf(buf + len, size - len, "%sprocess %d", len ? ", " : "", q);
    if (c->local_worker >= 0 && len < size)
      len += (size_t)snprintf(buf + len, size - len, " (worker %d)",
                              q * c->workers_per_process + c->local_worker);
  }
  if (!len) snprintf(buf, size, "%s", OTHERS);
}

/* What a wait is for: its operation, and what a timeout says it waited for (peer; NULL: the
 * processes of the sum's requests still pending), after how long (<= 0: never). A wait with
 * cancel has no deadline. */
typedef struct wait_for {
  const char *op;
  const char *peer;
  double timeout_s;
  wait_kind kind;
  const atomic_bool *cancel;
} wait_for;

/* Completes reqs[0..n) (indices: n ints of scratch): until done, the channel's abort, the
 * deadline, or *cancel. A receive (RECV_CANCELLABLE, n = 1) that ends early is cancelled; MPI
 * cannot cancel the other operations, which stay in flight (see the header). */
static int wait_reqs(dpt_mpi_chan *c, const wait_for *w, MPI_Request *reqs, int n, int *indices,
                     dpt_err *err)
{
  double deadline = !w->cancel && w->timeout_s > 0 ? dpt_now() + w->timeout_s : 0;
  for (unsigned polls = 0;; polls++) {
    int done = 0;
    int rc = check(c, DPT_CHECK_MPI(MPI_Testsome(n, reqs, &done, indices, MPI_STATUSES_IGNORE),
                                    err), err);
    if (!rc && done == MPI_UNDEFINED) return DPT_OK; /* none active: all complete */
    if (!rc && w->cancel && atomic_load(w->cancel))
      rc = dpt_err_set(err, DPT_EABORTED, "mpi %s: %s: cancelled", c->name, w->op);
    if (!rc) rc = abort_error(c, err);
    if (!rc && deadline && dpt_now() > deadline) {
      char pending[DPT_ERR_MSG_MAX / 2];
      if (!w->peer) describe_pending(c, pending, sizeof pending);
      rc = check(c, dpt_err_set(err, DPT_ETIMEOUT, "mpi %s: %s: timed out after %g s waiting for %s",
                                c->name, w->op, w->timeout_s, w->peer ? w->peer : pending), err);
    }
    if (rc && w->kind == RECV_CANCELLABLE) return cancel_recv(c, reqs, rc, err);
    if (rc) {
      atomic_store(&c->in_flight, true);
      return rc;
    }
    if (polls < SPIN_POLLS) sched_yield();
    else dpt_sleep(POLL_SLEEP_S);
  }
}

/* One request, bounded by the channel's timeout (any thread may call: no shared scratch). */
static int wait_req(dpt_mpi_chan *c, const char *op, const char *peer, MPI_Request *req,
                    wait_kind kind, const atomic_bool *cancel, dpt_err *err)
{
  wait_for w = {.op = op, .peer = peer, .timeout_s = c->timeout_s, .kind = kind, .cancel = cancel};
  int index;
  return wait_reqs(c, &w, req, 1, &index, err);
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
  c->local_worker = -1;
  pthread_mutex_init(&c->abort_mu, NULL);
  atomic_init(&c->abort_code, 0);
  atomic_init(&c->in_flight, false);
  int rc = DPT_CHECK_MPI(MPI_Comm_rank(MPI_COMM_WORLD, &c->rank), err);
  if (!rc) rc = DPT_CHECK_MPI(MPI_Comm_size(MPI_COMM_WORLD, &c->size), err);
  if (!rc) {
    size_t p = (size_t)c->size;
    c->part_counts = calloc(p, sizeof(int));
    c->part_starts = calloc(p, sizeof(int));
    c->reqs = calloc(2 * p, sizeof *c->reqs);
    c->indices = calloc(2 * p, sizeof *c->indices);
    if (!c->part_counts || !c->part_starts || !c->reqs || !c->indices)
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

void dpt_mpi_chan_name_workers(dpt_mpi_chan *c, int local_worker, int workers_per_process)
{
  c->local_worker = local_worker;
  c->workers_per_process = workers_per_process;
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
  /* Grown on a call's first use of a larger n (the first step), never while MPI runs; never
   * NULL, even for empty parts: the receives point into it. */
  size_t need = mine ? mine * p_count : 1;
  if (need > c->scratch_floats) {
    float *s = realloc(c->scratch, need * sizeof *s);
    if (!s)
      return check(c, dpt_err_set(err, DPT_ENOMEM, "mpi %s: out of memory for %zu floats", c->name, n),
                   err);
    c->scratch = s;
    c->scratch_floats = need;
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

/* One stage of the sum, with every other process q: the reduce-scatter (scatter) sends buf's
 * part q and receives q's copy of this process's part into scratch + q x mine; the all-gather
 * sends this process's part and receives q's into buf's part q. Then waits for all of it: a
 * timeout names the processes whose messages are still pending, those not at this stage yet. */
static int run_stage(dpt_mpi_chan *c, float *buf, bool scatter, dpt_err *err)
{
  int me = c->rank, mine = c->part_counts[me];
  float *my_part = buf + c->part_starts[me];
  for (int i = 0; i < 2 * c->size; i++) c->reqs[i] = MPI_REQUEST_NULL;
  int rc = DPT_OK;
  for (int q = 0; q < c->size && !rc; q++) {
    if (q == me) continue;
    float *their_part = buf + c->part_starts[q];
    int theirs = c->part_counts[q];
    rc = DPT_CHECK_MPI(MPI_Irecv(scatter ? c->scratch + (size_t)q * (size_t)mine : their_part,
                                 scatter ? mine : theirs, MPI_FLOAT, q,
                                 scatter ? TAG_SUM_PARTS : TAG_SUM_GATHER, c->comm,
                                 &c->reqs[2 * q]), err);
    if (!rc)
      rc = DPT_CHECK_MPI(MPI_Isend(scatter ? their_part : my_part, scatter ? theirs : mine,
                                   MPI_FLOAT, q, scatter ? TAG_SUM_PARTS : TAG_SUM_GATHER,
                                   c->comm, &c->reqs[2 * q + 1]), err);
  }
  if (rc) { /* the requests posted before the failure stay in flight */
    atomic_store(&c->in_flight, true);
    return check(c, rc, err);
  }
  wait_for w = {.op = scatter ? "sum (reduce-scatter)" : "sum (all-gather)",
                .timeout_s = c->timeout_s, .kind = ONLY_WAIT};
  return wait_reqs(c, &w, c->reqs, 2 * c->size, c->indices, err);
}

int dpt_mpi_chan_sum(dpt_mpi_chan *c, float *buf, size_t n, dpt_err *err)
{
  int rc = usable(c, "sum", n, err);
  if (rc || c->size == 1) return rc;
  rc = plan_parts(c, n, err);
  if (rc) return rc;
  size_t mine = (size_t)c->part_counts[c->rank];
  float *my_part = buf + c->part_starts[c->rank];
  /* The P copies of this process's part, its own included, side by side in rank order. */
  memcpy(c->scratch + (size_t)c->rank * mine, my_part, mine * sizeof *buf);
  rc = run_stage(c, buf, true, err);
  if (rc) return rc;
  add_in_rank_order(c, my_part, mine);
  return run_stage(c, buf, false, err);
}

size_t dpt_mpi_chan_sum_bytes(size_t n, int procs)
{
  size_t p = procs > 0 ? (size_t)procs : 1;
  return 2 * (p - 1) * n * sizeof(float) / p;
}

int dpt_mpi_chan_bcast(dpt_mpi_chan *c, void *buf, size_t bytes, int root, dpt_err *err)
{
  return dpt_mpi_chan_bcast_awaiting(c, buf, bytes, root, c->timeout_s, OTHERS, err);
}

int dpt_mpi_chan_bcast_awaiting(dpt_mpi_chan *c, void *buf, size_t bytes, int root,
                                double timeout_s, const char *awaited, dpt_err *err)
{
  int rc = usable(c, "broadcast", bytes, err);
  if (!rc && (root < 0 || root >= c->size))
    rc = check(c, dpt_err_set(err, DPT_EINTERNAL, "mpi %s: broadcast from process %d of %d",
                              c->name, root, c->size), err);
  MPI_Request req;
  if (!rc)
    rc = check(c, DPT_CHECK_MPI(MPI_Ibcast(buf, (int)bytes, MPI_BYTE, root, c->comm, &req), err),
               err);
  wait_for w = {.op = "broadcast", .peer = awaited, .timeout_s = timeout_s, .kind = ONLY_WAIT};
  int index;
  return rc ? rc : wait_reqs(c, &w, &req, 1, &index, err);
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
  char peer[32] = "any process";
  if (from != DPT_MPI_CHAN_ANY) snprintf(peer, sizeof peer, "process %d", from);
  int source = from == DPT_MPI_CHAN_ANY ? MPI_ANY_SOURCE : from;
  int rc = usable(c, "receive", bytes, err);
  MPI_Request req;
  if (!rc)
    rc = check(c, DPT_CHECK_MPI(MPI_Irecv(buf, (int)bytes, MPI_BYTE, source, tag, c->comm, &req),
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
  free(c->reqs);
  free(c->indices);
  free(c->scratch);
  pthread_mutex_destroy(&c->abort_mu);
  free(c);
}
