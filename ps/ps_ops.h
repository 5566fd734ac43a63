/* Private to ps/: the three kinds of parameter server behind the public entry points (ps/ps.c), one
 * table of functions each, as host/sync/ has one per strategy:
 *   local  (ps_create.c, ps_worker.c, ps_server.c, ps_abort.c): the server in this process; under
 *          MPI, on process 0, it also serves the other processes' workers (ps_mpi_serve.c);
 *   stale  (ps_stale.c): with staleness >= 1: every push applied alone as it arrives, pulls
 *          bounded by the workers' clocks; under MPI, on process 0, it too serves the other
 *          processes' workers (ps_mpi_serve.c);
 *   remote (ps_mpi_remote.c): under MPI, on the other processes, a client that sends each of its
 *          workers' pushes and pulls to process 0 (ps/ps_mpi.h).
 * ps.c checks the config and picks the kind; the callers of dpt/ps.h never learn which runs. */
#ifndef DPT_PS_OPS_H
#define DPT_PS_OPS_H

#include "dpt/ps.h"

typedef struct ps_ops {
  /* pipe: NULL, or the caller's copies shard by shard (dpt_ps_pipe) */
  int (*push)(void *impl, int worker, const float *grads, float lr, dpt_votes votes,
              const dpt_ps_pipe *pipe, dpt_err *err);
  int (*pull)(void *impl, int worker, float *params, dpt_ps_round *round,
              const dpt_ps_pipe *pipe, dpt_err *err);
  void (*abort)(void *impl, int code, const char *why);
  void (*get_stats)(void *impl, dpt_ps_stats *out);
  int (*read_velocity)(void *impl, float *out, dpt_err *err);
  int (*read_params)(void *impl, int worker, float *out, dpt_err *err);
  int (*drop)(void *impl, int worker, uint64_t *pushes, dpt_err *err); /* NULL: not supported */
  int (*read_cut)(void *impl, float *params, float *velocity, uint64_t *clocks,
                  dpt_err *err); /* NULL: not supported */
  void (*destroy)(void *impl);
} ps_ops;

/* The local server for cfg, checked by ps.c: its n_workers counts every process's workers,
 * local_workers of them this process's, and its server_threads is set. */
int ps_local_create(const dpt_ps_config *cfg, int local_workers, const float *init_params,
                    const ps_ops **ops, void **impl, dpt_err *err);

/* The stale server for cfg (staleness >= 1), checked by ps.c: as ps_local_create, its n_workers
 * counts every process's workers, local_workers of them this process's. */
int ps_stale_create(const dpt_ps_config *cfg, int local_workers, const float *init_params,
                    const ps_ops **ops, void **impl, dpt_err *err);

/* The client of process 0's server for cfg, checked by ps.c (n_workers: this process's). */
int ps_remote_create(const dpt_ps_config *cfg, const ps_ops **ops, void **impl, dpt_err *err);

#endif
