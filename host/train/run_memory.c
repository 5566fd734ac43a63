#include "host/train/run_memory.h"

#include <math.h>
#include <stdbool.h>

#include "dpt/device.h"
#include "dpt/mem_room.h"
#include "dpt/ps.h"
#include "host/train/run.h"

/* Bytes the model surely takes in host memory: the initial and final parameters; with ps the
 * server's parameters and velocity; on the CPU, for each worker, its replica's parameters and
 * gradient, with allreduce its velocity, and its rows' activations, conv patches and staging.
 * Checkpoint copies, traces and the exchange's scratch come on top: a lower bound, so that no run
 * that would fit is refused. */
static double model_bytes(const dpt_run *run, const dpt_mlp_shape *s, double params)
{
  const dpt_config *cfg = run->cfg;
  bool ps = cfg->strategy == DPT_STRATEGY_PS;
  double bytes = params * sizeof(float) * (ps ? 4 : 2);
  if (run->device_kind != DPT_DEVICE_CPU) return bytes;
  int all_workers = (cfg->procs > 1 ? cfg->procs : 1) * run->workers;
  double rows = ceil((double)cfg->batch / all_workers), widths = s->sizes[0], widest = 0;
  for (int l = 1; l <= s->n_layers; l++) {
    widths += s->sizes[l];
    widest = fmax(widest, s->sizes[l]);
  }
  double per_worker = params * (ps ? 2 : 3) + rows * (widths + 2 * widest + s->sizes[0]) +
                      dpt_mlp_patch_floats(s, rows);
  return bytes + run->workers * per_worker * sizeof(float);
}

static int refuse(const dpt_run *run, const dpt_data_plan *plan, double params, double model,
                  double limit, const char *what, dpt_err *err)
{
  char data_str[32], model_str[32], limit_str[32];
  return dpt_err_set(err, DPT_EINPUT,
                     "%s: the data need %s (%zu training and %zu test samples of %zu features, as "
                     "floats) and the model at least %s (%.0f parameters, %d worker(s)): more than "
                     "the %s of memory available (%s)", plan->train_images,
                     dpt_mem_format(plan->bytes, data_str, sizeof data_str), plan->train_count,
                     plan->test_count, plan->features,
                     dpt_mem_format(model, model_str, sizeof model_str), params, run->workers,
                     dpt_mem_format(limit, limit_str, sizeof limit_str), what);
}

int dpt_run_memory_check(const dpt_run *run, const dpt_data_plan *plan, dpt_err *err)
{
  const dpt_mlp_shape *shape = &run->shape;
  const dpt_config *cfg = run->cfg;
  dpt_mem_room room;
  dpt_mem_room_now(&room);
  double params = (double)dpt_mlp_param_count(shape), model = model_bytes(run, shape, params);
  double need = plan->bytes + model;
  double limit = room.ram;
  const char *what = room.ram_source;
  if (room.address < limit) {
    limit = room.address;
    what = "left under ulimit -v, RLIMIT_AS";
  }
  if (room.data < limit) {
    limit = room.data;
    what = "left under ulimit -d, RLIMIT_DATA";
  }
  if (need > limit) return refuse(run, plan, params, model, limit, what, err);

  /* Mapped, mostly never touched, so weighed against the limits only: OpenBLAS retries a work
   * buffer it cannot map for ever (kernels/device_cpu.c), and what a thread takes (its stack; a
   * worker's malloc arena: the server's threads allocate nothing) must leave room for those. */
  int ps_threads = cfg->strategy == DPT_STRATEGY_PS ? dpt_ps_server_threads(cfg->ps_threads) : 0;
  double mapped = (double)dpt_device_host_reserve(run->device_kind, run->workers,
                                                  run->blas_threads) +
                  run->workers * (double)dpt_thread_reserve_bytes() +
                  ps_threads * (double)dpt_thread_stack_bytes();
  double room_mapped = fmin(room.address, room.data);
  if (need + mapped <= room_mapped) return DPT_OK;
  char total_str[32], need_str[32], mapped_str[32], room_str[32];
  return dpt_err_set(err, DPT_ENOMEM,
                     "trainer: out of memory: the run maps %s (%s for its data and model, %s for "
                     "BLAS work buffers and threads), more than the %s left under %s",
                     dpt_mem_format(need + mapped, total_str, sizeof total_str),
                     dpt_mem_format(need, need_str, sizeof need_str),
                     dpt_mem_format(mapped, mapped_str, sizeof mapped_str),
                     dpt_mem_format(room_mapped, room_str, sizeof room_str),
                     room.address <= room.data ? "ulimit -v (RLIMIT_AS)"
                                               : "ulimit -d (RLIMIT_DATA)");
}
