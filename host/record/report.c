#include "host/record/report.h"

#include <inttypes.h>
#include <string.h>

#include "dpt/atomic_file.h"
#include "dpt/number_text.h"
#include "dpt/device.h"

/* An emulated CUDA run (docs/emulator.md): each device's counters of calls, copies and waits. */
static void write_emulator_counters(FILE *f, const dpt_result *r)
{
  char counts[512];
  if (strcmp(r->device, "cuda") != 0 || !dpt_cuda_emu_counters_json(0, counts, sizeof counts))
    return;
  fprintf(f, "  \"emulator_counters\": [%s", counts);
  for (int d = 1; dpt_cuda_emu_counters_json(d, counts, sizeof counts); d++)
    fprintf(f, ", %s", counts);
  fprintf(f, "],\n");
}

static void write_json(FILE *f, const dpt_config *cfg, const dpt_result *r)
{
  fprintf(f, "{\n");
  fprintf(f, "  \"test_accuracy\": %s,\n", DPT_JSON_NUM(r->test_accuracy, 6));
  fprintf(f, "  \"final_train_loss\": %s,\n", DPT_JSON_NUM(r->final_train_loss, 6));
  fprintf(f, "  \"train_samples_per_sec\": %s,\n", DPT_JSON_NUM(r->train_samples_per_sec, 1));
  fprintf(f, "  \"epochs\": %d,\n", r->epochs);
  fprintf(f, "  \"global_batch\": %d,\n", r->global_batch);
  fprintf(f, "  \"workers\": %d,\n", r->workers);
  fprintf(f, "  \"processes\": %d,\n", r->procs); /* MPI processes sharing the workers */
  fprintf(f, "  \"strategy\": \"%s\",\n", r->strategy);
  if (strcmp(r->strategy, "ps") == 0) { /* the server's; allreduce has none */
    fprintf(f, "  \"ps_shards\": %d,\n", r->ps_shards);
    fprintf(f, "  \"ps_threads\": %d,\n", r->ps_threads);
    /* A number, or the string "inf" for asynchronous training. */
    if (r->staleness == DPT_PS_STALENESS_INF) fprintf(f, "  \"staleness\": \"inf\",\n");
    else fprintf(f, "  \"staleness\": %d,\n", r->staleness);
    fprintf(f, "  \"pushes_applied\": %" PRIu64 ",\n", r->pushes_applied);
    fprintf(f, "  \"max_staleness_observed\": %" PRIu64 ",\n", r->max_staleness);
    fprintf(f, "  \"workers_lost\": %d,\n", r->workers_lost);
  }
  if (r->staleness > 0 && cfg->checkpoint_path) { /* docs/ps.md "Checkpoints with staleness" */
    fprintf(f, "  \"checkpoint_epoch\": %d,\n", r->checkpoint_epoch);
    fprintf(f, "  \"checkpoint_state_hash\": \"%016" PRIx64 "\",\n", r->checkpoint_state_hash);
  }
  if (r->staleness > 0 && cfg->resume_path)
    fprintf(f, "  \"resumed_state_hash\": \"%016" PRIx64 "\",\n", r->resumed_state_hash);
  fprintf(f, "  \"device\": \"%s\",\n", r->device);
  fprintf(f, "  \"params\": %zu,\n", r->params);
  fprintf(f, "  \"params_hash\": \"%016" PRIx64 "\",\n", r->params_hash);
  fprintf(f, "  \"wall_s\": %s,\n", DPT_JSON_NUM(r->wall_s, 3));
  fprintf(f, "  \"train_s\": %s,\n", DPT_JSON_NUM(r->train_s, 3));
  fprintf(f, "  \"steps\": %ld,\n", r->steps);
  fprintf(f, "  \"blas_threads\": %d,\n", r->blas_threads);
  fprintf(f, "  \"blas\": \"%s\",\n", r->blas);
  fprintf(f, "  \"time_s\": {\"compute\": %s, \"comm\": %s, \"wait\": %s},\n",
          DPT_JSON_NUM(r->time_compute_s, 4), DPT_JSON_NUM(r->time_comm_s, 4),
          DPT_JSON_NUM(r->time_wait_s, 4));
  fprintf(f, "  \"wait_fraction\": %s,\n", DPT_JSON_NUM(r->wait_fraction, 4));
  if (r->n_worker_samples > 0) {
    fprintf(f, "  \"worker_samples\": [");
    for (int i = 0; i < r->n_worker_samples; i++)
      fprintf(f, "%s%ld", i ? ", " : "", r->worker_samples[i]);
    fprintf(f, "],\n");
  }
  if (cfg->target_acc > 0) { /* null when no epoch reached it */
    fprintf(f, "  \"target_acc\": %s,\n", DPT_JSON_NUM(cfg->target_acc, -1));
    if (r->steps_to_target < 0) fprintf(f, "  \"steps_to_target\": null,\n");
    else fprintf(f, "  \"steps_to_target\": %ld,\n", r->steps_to_target);
    fprintf(f, "  \"seconds_to_target\": %s,\n", DPT_JSON_NUM(r->seconds_to_target, 3));
  }
  fprintf(f, "  \"bytes_per_step\": %zu,\n", r->bytes_per_step);
  fprintf(f, "  \"skipped_steps\": %ld,\n", r->skipped_steps);
  if (r->n_devices > 0) { /* CUDA: which GPU each worker had */
    fprintf(f, "  \"devices\": [");
    for (int i = 0; i < r->n_devices; i++)
      fprintf(f, "%s{\"process\": %d, \"ordinal\": %d}", i ? ", " : "", r->devices[i].process,
              r->devices[i].ordinal);
    fprintf(f, "],\n");
  }
  if (r->cuda.valid) /* docs/gpu.md: the step's work on the busiest device */
    fprintf(f,
            "  \"cuda\": {\"launches_per_step\": %s, \"host_waits_per_step\": %s, "
            "\"h2d_per_step\": %s, \"d2h_per_step\": %s, \"allocs_after_first_step\": %ld},\n",
            DPT_JSON_NUM(r->cuda.launches_per_step, 3), DPT_JSON_NUM(r->cuda.host_waits_per_step, 3),
            DPT_JSON_NUM(r->cuda.h2d_per_step, 3), DPT_JSON_NUM(r->cuda.d2h_per_step, 3),
            r->cuda.allocs_after_first_step);
  write_emulator_counters(f, r);
  fprintf(f, "  \"hidden\": [");
  for (int i = 0; i < r->n_hidden; i++) fprintf(f, "%s%d", i ? ", " : "", r->hidden[i]);
  fprintf(f, "],\n");
  fprintf(f, "  \"model\": \"%s\",\n", r->model);
  fprintf(f, "  \"flops_per_sample\": %.0f,\n", r->flops_per_sample);
  fprintf(f, "  \"features\": %d,\n", r->features);
  fprintf(f, "  \"classes\": %d,\n", r->classes);
  fprintf(f, "  \"train_samples\": %ld,\n", r->train_samples);
  fprintf(f, "  \"test_samples\": %ld,\n", r->test_samples);
  fprintf(f, "  \"lr\": %s,\n", DPT_JSON_NUM(cfg->schedule.base_lr, -1));
  fprintf(f, "  \"momentum\": %s,\n", DPT_JSON_NUM(cfg->momentum, -1));
  fprintf(f, "  \"weight_decay\": %s,\n", DPT_JSON_NUM(cfg->weight_decay, -1));
  fprintf(f, "  \"on_nan\": \"%s\",\n", cfg->on_nan == DPT_ON_NAN_SKIP ? "skip" : "stop");
  fprintf(f, "  \"max_skips\": %d,\n", cfg->max_skips);
  fprintf(f, "  \"seed\": %" PRIu64 "\n", cfg->seed);
  fprintf(f, "}\n");
}

int dpt_report_write(const char *path, const dpt_config *cfg, const dpt_result *res, dpt_err *err)
{
  dpt_atomic_file af;
  int rc = dpt_atomic_open(&af, path, err);
  if (rc) return rc;
  write_json(af.f, cfg, res);
  return dpt_atomic_commit(&af, err);
}
