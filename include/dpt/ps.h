/* The parameter server: server threads own the master parameters and the optimizer state in host
 * memory, split into shards, each guarded by its own lock. In a synchronous round every worker
 * pushes its gradient; when a shard has all pushes, the server sums them in worker order 0..N-1
 * (reproducible, and bit-identical to the allreduce path), applies the SGD step and publishes the
 * shard's new version, which workers pull. With several server threads each applies a slice of
 * every complete shard (the workers wait meanwhile, so their cores are free); every element is
 * still summed and stepped by one thread, in the same order.
 *
 * Lock order: a thread holds at most one shard lock at a time; the server's wake-up lock is never
 * held while taking a shard lock. */
#ifndef DPT_PS_H
#define DPT_PS_H

#include <stddef.h>
#include <stdint.h>

#include "dpt/status.h"
#include "dpt/votes.h"

enum { DPT_PS_MAX_SERVER_THREADS = 64 };

/* dpt_ps_config.staleness for fully asynchronous training: no worker ever waits for another. */
#define DPT_PS_STALENESS_INF INT32_MAX

/* Optional observer of the server's work (--trace): called from the server thread that finished
 * round `round` (0-based) of `shard`, with the span's dpt_now() times (its first slice's start,
 * its last slice's end), one call at a time (under the server's lock). worker is -1: a round
 * holds every worker's push. With staleness: called for each push, by the pushing thread, with
 * worker's push index as the round (under the clock lock). Must be cheap; must not block. */
typedef void (*dpt_ps_apply_hook)(void *ctx, int shard, uint64_t round, int worker, double t0,
                                  double t1);

typedef struct dpt_ps_config {
  size_t n_params;
  int n_workers;
  int n_shards;         /* 1..n_params */
  int server_threads;   /* 1..DPT_PS_MAX_SERVER_THREADS; 0: dpt_ps_server_threads(0) */
  float momentum;
  float weight_decay;
  double timeout_s;     /* bounds every wait (<= 0: none) */
  dpt_ps_apply_hook on_apply; /* NULL: none */
  void *on_apply_ctx;
  const float *init_velocity; /* optimizer state to start from (a checkpoint's); NULL: zeros */
  /* The consistency model (docs/ps.md): 0, the synchronous rounds above; S >= 1, stale
   * synchronous parallel: each push is applied alone as it arrives (ps/ps_stale.c), and a worker's
   * pull waits only until every worker is at most S pushes behind it; DPT_PS_STALENESS_INF:
   * asynchronous, pulls never wait. Under MPI too: process 0's stale server serves every
   * process's workers. */
  int staleness;
  /* With staleness: called when a pull timed out waiting for `worker`, with no lock held, instead
   * of aborting; it may drop the worker (dpt_ps_drop), and the pull then waits on for the others.
   * NULL, or a worker still there afterwards: the pull aborts the server, as in synchronous mode. */
  void (*on_late)(void *ctx, int worker, const char *why);
  void *on_late_ctx;
  /* With staleness: a push that makes this many of its worker's pushes in a row dropped (skip
   * votes) also votes stop, for every worker: that worker's run diverged (--max-skips + 1), and
   * none should wait for it. 0: never. */
  int stop_after_dropped;
  /* Under MPI (docs/mpi.md, ps/ps_mpi.h): the job's processes, each with n_workers workers, and
   * this one's rank. Every process creates the ps with the same config; process 0's holds the
   * server, whose rounds take every process's workers, and the others forward their workers'
   * pushes and pulls to it. Workers pass their index within their process. The sum then adds each
   * process's workers first, then the processes in rank order: the hierarchical allreduce's
   * order. 0 or 1: this process alone. */
  int procs;
  int proc_rank;
} dpt_ps_config;

typedef struct dpt_ps_stats {
  uint64_t rounds;       /* completed synchronous rounds; with staleness, the slowest worker's
                          * pushes applied */
  double server_busy_s;  /* time the server threads spent summing and stepping, added up */
  uint64_t pushes_applied; /* pushes that stepped the parameters (a skipped round's are not) */
  uint64_t pushes_dropped; /* pushes carrying a skip vote, hence applied to nothing */
  uint64_t max_staleness;  /* the largest dpt_ps_round.staleness any pull saw */
  int workers_dropped;     /* dpt_ps_drop */
} dpt_ps_stats;

typedef struct dpt_ps dpt_ps;

/* What a worker's pull learned of its round. */
typedef struct dpt_ps_round {
  dpt_votes votes; /* every worker's, counted; a round some worker voted to skip changed nothing,
                    * on every shard alike, since each shard counts every worker's vote. With
                    * staleness: stop is sticky (any push's), and skip is 1 when this worker's
                    * own last push was dropped (it alone: the others' pushes are applied) */
  double wait_s;   /* time the pull was blocked waiting for the round */
  uint64_t staleness; /* pushes the slowest worker had fewer than this one when the pull copied
                       * the parameters: 0 in synchronous rounds, at most the config's staleness */
} dpt_ps_round;

/* The server threads a ps runs for `requested` (--ps-threads; 0: not given): requested, or else
 * the cores online, at most 8. The workers wait while a round is applied, so their cores are free
 * to share it. The one place that decides the default. */
int dpt_ps_server_threads(int requested);

/* "inf" or the number: staleness as options and reports write it. */
typedef struct dpt_staleness_text {
  char text[16];
} dpt_staleness_text;
dpt_staleness_text dpt_ps_staleness_text(int staleness);

/* Shard s of n_shards over n parameters starts here: shard s holds [start(s), start(s + 1)),
 * balanced, never empty since n_shards <= n. */
static inline size_t dpt_ps_shard_start(size_t n, int n_shards, int s)
{
  return n * (size_t)s / (size_t)n_shards;
}

/* A worker's copies between its device and the host, shard by shard (ps on CUDA, docs/gpu.md):
 * the push calls ready(ctx, off, len) before it reads grads[off, off + len), a shard at a time in
 * order, so the copy of a later shard can still run; the pull calls arrived(ctx, off, len) as
 * soon as params[off, off + len) holds the pulled values, so their upload can start. A call that
 * fails makes the push or pull fail with its code, and a push that fails midway aborts the
 * server. The MPI client takes the whole range at once (one message each way). */
typedef struct dpt_ps_pipe {
  int (*ready)(void *ctx, size_t off, size_t len, dpt_err *err);
  int (*arrived)(void *ctx, size_t off, size_t len, dpt_err *err);
  void *ctx;
} dpt_ps_pipe;

/* Copies init_params as the master parameters and starts the server threads. */
int dpt_ps_create(const dpt_ps_config *cfg, const float *init_params, dpt_ps **out, dpt_err *err);

/* Pushes worker's gradient (host memory, n_params floats) and its votes (NULL: none) for the
 * current round with the round's learning rate (every worker passes the same lr). Returns once
 * the gradient is copied; with staleness, once it is applied (with its own lr). */
int dpt_ps_push(dpt_ps *ps, int worker, const float *grads, float lr, const dpt_votes *votes,
                dpt_err *err);

/* dpt_ps_push and dpt_ps_pull with the copies behind them shard by shard (pipe: NULL, none). */
int dpt_ps_push_piped(dpt_ps *ps, int worker, const float *grads, float lr,
                      const dpt_votes *votes, const dpt_ps_pipe *pipe, dpt_err *err);
int dpt_ps_pull_piped(dpt_ps *ps, int worker, float *params, dpt_ps_round *round,
                      const dpt_ps_pipe *pipe, dpt_err *err);

/* Waits until the round this worker last pushed is applied (with staleness: until no worker is
 * more than `staleness` pushes behind this one), then copies the parameters into params (host
 * memory, n_params floats) and, unless round is NULL, what it learned of the round. */
int dpt_ps_pull(dpt_ps *ps, int worker, float *params, dpt_ps_round *round, dpt_err *err);

/* Wakes every waiter (workers and server) with an error; later calls fail at once. */
void dpt_ps_abort(dpt_ps *ps, int code, const char *why);

void dpt_ps_get_stats(dpt_ps *ps, dpt_ps_stats *out);

/* Copies the master optimizer state (n_params floats), for checkpoints. Call from a worker's
 * thread between its pull and its next push: no round can be applied before that push. Under
 * MPI, on process 0 only: the others hold no server state (DPT_EINTERNAL). */
int dpt_ps_read_velocity(dpt_ps *ps, float *out, dpt_err *err);

/* Copies the master parameters (n_params floats) into params, each shard as a whole, for worker
 * (its index within its process: under MPI the other processes ask process 0 for them on that
 * worker's messages, so each of their workers may read at once). Call when no push is in flight
 * that the copy must include (after every worker of every process pushed, and a barrier): the
 * replicas of a run with staleness differ until then. */
int dpt_ps_read_params(dpt_ps *ps, int worker, float *params, dpt_err *err);

/* With staleness: worker leaves the run for good. Its push in flight, if any, completes first;
 * its later pushes and pulls fail (DPT_EABORTED), and the others' pulls stop waiting for it.
 * *pushes: its pushes applied, all told. Without staleness: DPT_EINTERNAL (a synchronous round
 * cannot lose a worker). */
int dpt_ps_drop(dpt_ps *ps, int worker, uint64_t *pushes, dpt_err *err);

/* With staleness, for checkpoints: a consistent cut of the server's state. No push begins while
 * it is read, and every push in flight is applied whole first (the server drains; bounded by the
 * timeout); then the master parameters and velocity (n_params floats each) and every worker's
 * clock (its pushes applied or dropped, n_workers entries) are copied. From any thread. Without
 * staleness: DPT_EINTERNAL (dpt_ps_read_velocity serves checkpoints there). */
int dpt_ps_read_cut(dpt_ps *ps, float *params, float *velocity, uint64_t *clocks, dpt_err *err);

/* Stops the server threads and frees everything. */
void dpt_ps_destroy(dpt_ps *ps);

#endif
