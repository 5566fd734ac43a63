#include "host/record/report.h"

#include <inttypes.h>
#include <string.h>

#include "dpt/atomic_file.h"
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
  fprintf(f, "  \"test_accuracy\": %.6f,\n", r->test_accuracy);
  fprintf(f, "  \"final_train_loss\": %.6f,\n", r->final_train_loss);
  fprintf(f, "  \"train_samples_per_sec\": %.1f,\n", r->train_samples_per_sec);
  fprintf(f, "  \"epochs\": %d,\n", r->epochs);
  fprintf(f, "  \"global_batch\": %d,\n", r->global_batch);
  fprintf(f, "  \"workers\": %d,\n", r->workers);
  fprintf(f, "  \"processes\": %d,\n", r->procs); /* MPI processes sharing the workers */
  fprintf(f, "  \"strategy\": \"%s\",\n", r->strategy);
  fprintf(f, "  \"ps_shards\": %d,\n", r->ps_shards);
  fprintf(f, "  \"ps_threads\": %d,\n", r->ps_threads);
  fprintf(f, "  \"device\": \"%s\",\n", r->device);
  fprintf(f, "  \"params\": %zu,\n", r->params);
  fprintf(f, "  \"params_hash\": \"%016" PRIx64 "\",\n", r->params_hash);
  fprintf(f, "  \"wall_s\": %.3f,\n", r->wall_s);
  fprintf(f, "  \"train_s\": %.3f,\n", r->train_s);
  fprintf(f, "  \"steps\": %ld,\n", r->steps);
  fprintf(f, "  \"blas_threads\": %d,\n", r->blas_threads);
  fprintf(f, "  \"time_s\": {\"compute\": %.4f, \"comm\": %.4f, \"wait\": %.4f},\n",
          r->time_compute_s, r->time_comm_s, r->time_wait_s);
  fprintf(f, "  \"bytes_per_step\": %zu,\n", r->bytes_per_step);
  fprintf(f, "  \"skipped_steps\": %ld,\n", r->skipped_steps);
  write_emulator_counters(f, r);
  fprintf(f, "  \"hidden\": [");
  for (int i = 0; i < r->n_hidden; i++) fprintf(f, "%s%d", i ? ", " : "", r->hidden[i]);
  fprintf(f, "],\n");
  fprintf(f, "  \"features\": %d,\n", r->features);
  fprintf(f, "  \"classes\": %d,\n", r->classes);
  fprintf(f, "  \"train_samples\": %ld,\n", r->train_samples);
  fprintf(f, "  \"test_samples\": %ld,\n", r->test_samples);
  fprintf(f, "  \"lr\": %g,\n", (double)cfg->schedule.base_lr);
  fprintf(f, "  \"momentum\": %g,\n", (double)cfg->momentum);
  fprintf(f, "  \"weight_decay\": %g,\n", (double)cfg->weight_decay);
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
