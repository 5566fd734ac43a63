/* The training options, one row each: dptrain's and, but for those compare replaces, compare's.
 * Their defaults are dpt_config_defaults: with no options dptrain trains an MLP on Fashion-MNIST
 * to >= 0.89 accuracy. */
#include <stdlib.h>
#include <string.h>

#include "dpt/config.h"
#include "dpt/ps.h"
#include "host/cli/cli.h"
#include "host/train/straggler.h"

#define AT(field) .offset = offsetof(dpt_config, field)
/* Enum fields are stored through an int (DPT_OPT_CHOICE). */
_Static_assert(sizeof(dpt_strategy) == sizeof(int) && sizeof(dpt_lr_decay) == sizeof(int) &&
                 sizeof(dpt_device_select) == sizeof(int) && sizeof(dpt_on_nan) == sizeof(int) &&
                 sizeof(dpt_on_failure) == sizeof(int),
               "enums of int size");

static const char *const schedule_names[] = {"cosine", "step", "constant", NULL};
const char *const dpt_cli_strategy_names[] = {"allreduce", "ps", NULL};
static const char *const device_names[] = {"auto", "cpu", "cuda", NULL};
static const char *const on_nan_names[] = {"stop", "skip", NULL};
static const char *const on_failure_names[] = {"stop", "continue", NULL};

static int check_straggler(const dpt_option *row, const char *value, const void *target,
                           dpt_err *err)
{
  dpt_stragglers parsed;
  return dpt_stragglers_parse(value, &parsed, err);
}

/* What the spec alone can tell (the data's shape is checked once it is known). */
static int check_model(const dpt_option *row, const char *value, const void *target, dpt_err *err)
{
  const dpt_config *cfg = target;
  dpt_model_spec spec;
  return dpt_model_spec_parse(value, cfg->hidden, cfg->n_hidden, &spec, err);
}

static const dpt_option rows[] = {
  {.section = "Data and model", .name = "data", .value = "DIR", .kind = DPT_OPT_STRING, AT(data_dir),
   .default_value = DPT_DEFAULT_DATA_DIR,
   .help = "IDX data set folder (train/t10k images and labels, .gz or raw)"},
  {.name = "model", .value = "SPEC", .kind = DPT_OPT_STRING, AT(model), .default_value = "mlp",
   .check = check_model, .help = dpt_model_layers_help},
  {.name = "hidden", .value = "LIST", .kind = DPT_OPT_INT_LIST, AT(hidden),
   .count_offset = offsetof(dpt_config, n_hidden), .min = 1, .max = 1 << 16,
   .max_items = DPT_MAX_LAYERS - 1, .default_value = "512,512",
   .help = "hidden layer sizes of --model mlp, comma-separated"},
  {.section = "Training", .name = "epochs", .value = "N", .kind = DPT_OPT_INT, AT(epochs), .min = 1,
   .max = 100000, .default_value = "10", .help = "epochs"},
  {.name = "batch", .value = "B", .kind = DPT_OPT_INT, AT(batch), .min = 1, .max = 1 << 20,
   .default_value = "256", .help = "global batch, split over the workers"},
  {.name = "lr", .value = "X", .kind = DPT_OPT_FLOAT, AT(schedule.base_lr), .min = 0,
   .min_open = true, .max = 100, .default_value = "0.1", .help = "peak learning rate"},
  {.name = "momentum", .value = "X", .kind = DPT_OPT_FLOAT, AT(momentum), .min = 0, .max = 0.999,
   .default_value = "0.9", .help = "SGD momentum, 0 <= X <= 0.999"},
  {.name = "weight-decay", .value = "X", .kind = DPT_OPT_FLOAT, AT(weight_decay), .min = 0,
   .max = 1, .default_value = "0.0005", .help = "L2 weight decay"},
  {.name = "lr-schedule", .value = "S", .kind = DPT_OPT_CHOICE, AT(schedule.decay),
   .choices = schedule_names, .default_value = "cosine",
   .help = "cosine, step or constant, after warm-up"},
  {.name = "warmup-epochs", .value = "X", .kind = DPT_OPT_FLOAT, AT(schedule.warmup_epochs),
   .min = 0, .max = 1000, .default_value = "1", .help = "linear warm-up length in epochs"},
  {.name = "lr-step-epochs", .value = "N", .kind = DPT_OPT_INT, AT(schedule.step_epochs), .min = 1,
   .max = 100000, .default_value = "3", .help = "step schedule: decay every N epochs"},
  {.name = "lr-gamma", .value = "X", .kind = DPT_OPT_FLOAT, AT(schedule.gamma), .min = 0,
   .min_open = true, .max = 1, .default_value = "0.1",
   .help = "step schedule: multiply the rate by X"},
  {.name = "seed", .value = "N", .kind = DPT_OPT_U64, AT(seed), .default_value = "1",
   .help = "seed of initialization and shuffling"},
  {.section = "Parallelism", .name = "workers", .value = "N|auto", .kind = DPT_OPT_INT, AT(workers),
   .min = 1, .max = 4096, .zero_word = "auto", .default_value = "1",
   .help = "worker threads, one per device; auto = every GPU, or every core"},
  {.name = "strategy", .value = "S", .kind = DPT_OPT_CHOICE, AT(strategy),
   .choices = dpt_cli_strategy_names, .default_value = "allreduce",
   .help = "allreduce or ps (parameter server)"},
  /* 0 in the config means "not given" (dpt_cli_ps_option_given), the server then picks. */
  {.name = "ps-shards", .value = "K", .kind = DPT_OPT_INT, AT(ps_shards), .min = 1,
   .max = 1 << 30, .default_help = "1", .help = "parameter-server shards, each with its own lock"},
  {.name = "ps-threads", .value = "T", .kind = DPT_OPT_INT, AT(ps_threads), .min = 1,
   .max = DPT_PS_MAX_SERVER_THREADS, .default_help = "the cores, at most 8",
   .help = "parameter-server threads, each applying a slice of every shard"},
  {.name = "staleness", .value = "S|inf", .kind = DPT_OPT_INT, AT(staleness), .min = 0,
   .max = 1000000, .max_word = "inf", .default_value = "0",
   .help = "ps consistency: 0 synchronous rounds; S >= 1 a worker runs at most\n"
           "S pushes ahead of the slowest; inf asynchronous (docs/ps.md)"},
  {.name = "straggler", .value = "SPEC", .kind = DPT_OPT_STRING, AT(straggler),
   .check = check_straggler,
   .help = "slow workers down: W:F[,W:F...] makes worker W F times slower,\n"
           "random:P:F every worker at each step with probability P"},
  {.name = "device", .value = "D", .kind = DPT_OPT_CHOICE, AT(device), .choices = device_names,
   .default_value = "auto", .help = "auto, cpu or cuda"},
  {.name = "check-replicas", .kind = DPT_OPT_FLAG, AT(check_replicas),
   .help = "verify after every step that all replicas are identical (slow)"},
  {.name = "timeout", .value = "S", .kind = DPT_OPT_DOUBLE, AT(timeout_s), .min = 0,
   .min_open = true, .max = 1e6, .default_value = "300",
   .help = "fail a collective, server round or data read that waits longer"},
  {.section = "Checkpoints and faults", .name = "checkpoint", .value = "FILE",
   .kind = DPT_OPT_STRING, AT(checkpoint_path),
   .help = "save parameters, optimizer state and position at every epoch's\n"
           "end, on SIGINT/SIGTERM, and every --checkpoint-every steps"},
  {.name = "checkpoint-every", .value = "N", .kind = DPT_OPT_LONG, AT(checkpoint_every), .min = 1,
   .max = 1000000000, .default_help = "off: epoch ends only",
   .help = "also save every N steps (not with --staleness S >= 1)"},
  {.name = "resume", .value = "FILE", .kind = DPT_OPT_STRING, AT(resume_path),
   .help = "continue a checkpoint's run up to --epochs in all, bit for bit as\n"
           "if never stopped (same model, workers and training settings)"},
  {.name = "on-nan", .value = "A", .kind = DPT_OPT_CHOICE, AT(on_nan), .choices = on_nan_names,
   .default_value = "stop",
   .help = "a gradient with NaN or Inf: stop the run, or skip that step on\n"
           "every worker and count it"},
  /* Measured on Fashion-MNIST: a diverged run skips every step from its first skip to its end
   * (--lr 100, 1 epoch: 227 in a row; --lr 2, 10, 30, 2 epochs: 404 to 458), a healthy one none.
   * 20 lets a short burst of bad batches through and stops a diverged run within a second. */
  {.name = "max-skips", .value = "N", .kind = DPT_OPT_INT, AT(max_skips), .min = 1,
   .max = 1000000000, .default_value = "20",
   .help = "with --on-nan skip: more than N steps skipped in a row end the\n"
           "run as diverged (exit 1), 1 <= N <= 1000000000"},
  {.name = "on-worker-failure", .value = "A", .kind = DPT_OPT_CHOICE, AT(on_worker_failure),
   .choices = on_failure_names, .default_value = "stop",
   .help = "a worker that fails or times out while training: stop the run,\n"
           "or (ps with --staleness >= 1) train on without it"},
  {.section = "Output", .name = "report", .value = "FILE", .kind = DPT_OPT_STRING, AT(report_path),
   .help = "write a JSON summary of the run (-: standard output)"},
  {.name = "metrics", .value = "FILE", .kind = DPT_OPT_STRING, AT(metrics_path),
   .help = "CSV rows every --metrics-every steps and every epoch (-: stdout)"},
  {.name = "metrics-every", .value = "N", .kind = DPT_OPT_INT, AT(metrics_every), .min = 1,
   .max = 1000000000, .default_value = "10", .help = "steps between metric rows"},
  {.name = "trace", .value = "FILE", .kind = DPT_OPT_STRING, AT(trace_path),
   .help = "write a Chrome trace of the first steps (Perfetto, chrome://tracing)"},
  {.name = "trace-steps", .value = "N", .kind = DPT_OPT_INT, AT(trace_steps), .min = 1,
   .max = 10000, .default_value = "200", .help = "steps traced, at most 10000"},
  {.name = "target-acc", .value = "X", .kind = DPT_OPT_DOUBLE, AT(target_acc), .min = 0,
   .min_open = true, .max = 1,
   .help = "report the steps and seconds until test accuracy first reaches X"},
  {.name = "quiet", .kind = DPT_OPT_FLAG, AT(quiet),
   .help = "no progress bar and no per-epoch lines; done: lines stay"},
  {.name = "help", .kind = DPT_OPT_ACTION, .action = DPT_CLI_HELP},
  {.name = "version", .kind = DPT_OPT_ACTION, .action = DPT_CLI_VERSION},
};

dpt_option_table dpt_cli_train_options(dpt_config *cfg)
{
  return (dpt_option_table){rows, sizeof rows / sizeof rows[0], cfg};
}

void dpt_config_defaults(dpt_config *cfg)
{
  memset(cfg, 0, sizeof *cfg);
  dpt_option_table table = dpt_cli_train_options(cfg);
  dpt_err err = {0};
  /* A default its own row refuses is a bug in the table above (test_cli checks every row). */
  if (dpt_options_defaults(&table, &err)) {
    fprintf(stderr, "dptrain: internal error: %s\n", err.msg);
    abort();
  }
}
