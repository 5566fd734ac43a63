#include "host/cli/cli.h"

#include <getopt.h>
#include <string.h>

#include "dpt/device.h"
#include "dpt/ps.h"
#include "dpt/parse.h"
#include "mpi/mpi_env.h"

enum {
  OPT_DATA = 256, OPT_HIDDEN, OPT_EPOCHS, OPT_BATCH, OPT_LR, OPT_MOMENTUM, OPT_WEIGHT_DECAY,
  OPT_SCHEDULE, OPT_WARMUP, OPT_LR_STEP, OPT_LR_GAMMA, OPT_SEED, OPT_REPORT, OPT_QUIET,
  OPT_WORKERS, OPT_STRATEGY, OPT_PS_SHARDS, OPT_PS_THREADS, OPT_DEVICE, OPT_CHECK_REPLICAS, OPT_TIMEOUT,
  OPT_METRICS, OPT_METRICS_EVERY, OPT_TRACE, OPT_TRACE_STEPS, OPT_CHECKPOINT,
  OPT_CHECKPOINT_EVERY, OPT_RESUME, OPT_ON_NAN, OPT_MAX_SKIPS, OPT_HELP, OPT_VERSION
};
_Static_assert((int)OPT_VERSION < (int)DPT_CLI_EXTRA_ID, "training ids stay below extras' ids");

static const struct option long_options[] = {
  {"data", required_argument, NULL, OPT_DATA},
  {"hidden", required_argument, NULL, OPT_HIDDEN},
  {"epochs", required_argument, NULL, OPT_EPOCHS},
  {"batch", required_argument, NULL, OPT_BATCH},
  {"lr", required_argument, NULL, OPT_LR},
  {"momentum", required_argument, NULL, OPT_MOMENTUM},
  {"weight-decay", required_argument, NULL, OPT_WEIGHT_DECAY},
  {"lr-schedule", required_argument, NULL, OPT_SCHEDULE},
  {"warmup-epochs", required_argument, NULL, OPT_WARMUP},
  {"lr-step-epochs", required_argument, NULL, OPT_LR_STEP},
  {"lr-gamma", required_argument, NULL, OPT_LR_GAMMA},
  {"seed", required_argument, NULL, OPT_SEED},
  {"report", required_argument, NULL, OPT_REPORT},
  {"quiet", no_argument, NULL, OPT_QUIET},
  {"workers", required_argument, NULL, OPT_WORKERS},
  {"strategy", required_argument, NULL, OPT_STRATEGY},
  {"ps-shards", required_argument, NULL, OPT_PS_SHARDS},
  {"ps-threads", required_argument, NULL, OPT_PS_THREADS},
  {"device", required_argument, NULL, OPT_DEVICE},
  {"check-replicas", no_argument, NULL, OPT_CHECK_REPLICAS},
  {"timeout", required_argument, NULL, OPT_TIMEOUT},
  {"metrics", required_argument, NULL, OPT_METRICS},
  {"metrics-every", required_argument, NULL, OPT_METRICS_EVERY},
  {"trace", required_argument, NULL, OPT_TRACE},
  {"trace-steps", required_argument, NULL, OPT_TRACE_STEPS},
  {"checkpoint", required_argument, NULL, OPT_CHECKPOINT},
  {"checkpoint-every", required_argument, NULL, OPT_CHECKPOINT_EVERY},
  {"resume", required_argument, NULL, OPT_RESUME},
  {"on-nan", required_argument, NULL, OPT_ON_NAN},
  {"max-skips", required_argument, NULL, OPT_MAX_SKIPS},
  {"help", no_argument, NULL, OPT_HELP},
  {"version", no_argument, NULL, OPT_VERSION},
  {NULL, 0, NULL, 0},
};

static const char *const schedule_names[] = {"cosine", "step", "constant", NULL};
const char *const dpt_cli_strategy_names[] = {"allreduce", "ps", NULL};
static const char *const device_names[] = {"auto", "cpu", "cuda", NULL};
static const char *const on_nan_names[] = {"stop", "skip", NULL};

void dpt_cli_print_training_options(FILE *out)
{
  fputs(
    "Data and model:\n"
    "  --data DIR            IDX data set folder (train/t10k images and labels, .gz or raw)\n"
    "                        [" DPT_DEFAULT_DATA_DIR "]\n"
    "  --hidden LIST         hidden layer sizes, comma-separated [512,512]\n"
    "Training:\n"
    "  --epochs N            epochs [10]\n"
    "  --batch B             global batch, split over the workers [256]\n"
    "  --lr X                peak learning rate [0.1]\n"
    "  --momentum X          SGD momentum, 0 <= X < 1 [0.9]\n"
    "  --weight-decay X      L2 weight decay [0.0005]\n"
    "  --lr-schedule S       cosine, step or constant, after warm-up [cosine]\n"
    "  --warmup-epochs X     linear warm-up length in epochs [1]\n"
    "  --lr-step-epochs N    step schedule: decay every N epochs [3]\n"
    "  --lr-gamma X          step schedule: multiply the rate by X [0.1]\n"
    "  --seed N              seed of initialization and shuffling [1]\n"
    "Parallelism:\n"
    "  --workers N|auto      worker threads, one per device; auto = every GPU, or every core [1]\n"
    "  --strategy S          allreduce or ps (parameter server) [allreduce]\n"
    "  --ps-shards K         parameter-server shards, each with its own lock [1]\n"
    "  --ps-threads T        parameter-server threads, each applying a slice of every shard\n"
    "                        [the cores, at most 8]\n"
    "  --device D            auto, cpu or cuda [auto]\n"
    "  --check-replicas      verify after every step that all replicas are identical (slow)\n"
    "  --timeout S           fail a collective or server round that waits longer [300]\n"
    "Checkpoints and faults:\n"
    "  --checkpoint FILE     save parameters, optimizer state and position at every epoch's\n"
    "                        end, on SIGINT/SIGTERM, and every --checkpoint-every steps\n"
    "  --checkpoint-every N  also save every N steps [0: epoch ends only]\n"
    "  --resume FILE         continue a checkpoint's run up to --epochs in all, bit for bit as\n"
    "                        if never stopped (same model, workers and training settings)\n"
    "  --on-nan A            a gradient with NaN or Inf: stop the run, or skip that step on\n"
    "                        every worker and count it [stop]\n"
    "  --max-skips N         with --on-nan skip: more than N steps skipped in a row end the\n"
    "                        run as diverged (exit 1), 1 <= N <= 1000000000 [20]\n"
    "Output:\n"
    "  --report FILE         write a JSON summary of the run\n"
    "  --metrics FILE        write a CSV row every --metrics-every steps and every epoch\n"
    "  --metrics-every N     steps between metric rows [10]\n"
    "  --trace FILE          write a Chrome trace of the first steps (Perfetto, chrome://tracing)\n"
    "  --trace-steps N       steps traced, at most 10000 [200]\n"
    "  --quiet               no progress bar and no per-epoch lines\n",
    out);
}

void dpt_cli_print_footer(FILE *out)
{
  fputs("  --help, --version\n"
        "\n"
        "Exit status: 0 success, 1 runtime failure, 2 bad input (options, values, files),\n"
        "130 or 143 stopped by SIGINT or SIGTERM (a second one exits at once).\n",
        out);
}

void dpt_cli_print_help(FILE *out)
{
  fputs("usage: dptrain [options]\n"
        "       dptrain compare [options]   (see dptrain compare --help)\n"
        "Data-parallel training of an MLP classifier: one worker thread per device, gradients\n"
        "exchanged by allreduce or by a parameter server.\n"
        "\n",
        out);
  dpt_cli_print_training_options(out);
  dpt_cli_print_footer(out);
}

void dpt_cli_print_version(FILE *out)
{
  fprintf(out, "dptrain %s\nbackends: %s; %s\n", DPT_VERSION, dpt_backends_summary(),
          dpt_mpi_summary());
}

static int parse_workers(const char *s, int *out, dpt_err *err)
{
  if (strcmp(s, "auto") == 0) {
    *out = 0;
    return DPT_OK;
  }
  return dpt_parse_int("--workers", s, 1, 4096, out, err);
}

/* Applies one option's value to cfg. */
static int apply_option(int opt, const char *v, dpt_config *cfg, dpt_err *err)
{
  int choice, rc;
  switch (opt) {
  case OPT_DATA: cfg->data_dir = v; return DPT_OK;
  case OPT_HIDDEN:
    return dpt_parse_int_list("--hidden", v, 1, 1 << 16, DPT_MAX_LAYERS - 1, cfg->hidden,
                              &cfg->n_hidden, err);
  case OPT_EPOCHS: return dpt_parse_int("--epochs", v, 1, 100000, &cfg->epochs, err);
  case OPT_BATCH: return dpt_parse_int("--batch", v, 1, 1 << 20, &cfg->batch, err);
  case OPT_LR: return dpt_parse_float("--lr", v, 0, true, 100, &cfg->schedule.base_lr, err);
  case OPT_MOMENTUM: return dpt_parse_float("--momentum", v, 0, false, 0.999, &cfg->momentum, err);
  case OPT_WEIGHT_DECAY:
    return dpt_parse_float("--weight-decay", v, 0, false, 1, &cfg->weight_decay, err);
  case OPT_SCHEDULE:
    rc = dpt_parse_choice("--lr-schedule", v, schedule_names, &choice, err);
    cfg->schedule.decay = (dpt_lr_decay)choice;
    return rc;
  case OPT_WARMUP:
    return dpt_parse_float("--warmup-epochs", v, 0, false, 1000, &cfg->schedule.warmup_epochs, err);
  case OPT_LR_STEP:
    return dpt_parse_int("--lr-step-epochs", v, 1, 100000, &cfg->schedule.step_epochs, err);
  case OPT_LR_GAMMA: return dpt_parse_float("--lr-gamma", v, 0, true, 1, &cfg->schedule.gamma, err);
  case OPT_SEED: return dpt_parse_u64("--seed", v, &cfg->seed, err);
  case OPT_REPORT: cfg->report_path = v; return DPT_OK;
  case OPT_QUIET: cfg->quiet = true; return DPT_OK;
  case OPT_WORKERS: return parse_workers(v, &cfg->workers, err);
  case OPT_STRATEGY:
    rc = dpt_parse_choice("--strategy", v, dpt_cli_strategy_names, &choice, err);
    cfg->strategy = (dpt_strategy)choice;
    return rc;
  case OPT_PS_SHARDS: return dpt_parse_int("--ps-shards", v, 1, 1 << 30, &cfg->ps_shards, err);
  case OPT_PS_THREADS:
    return dpt_parse_int("--ps-threads", v, 1, DPT_PS_MAX_SERVER_THREADS, &cfg->ps_threads, err);
  case OPT_DEVICE:
    rc = dpt_parse_choice("--device", v, device_names, &choice, err);
    cfg->device = (dpt_device_select)choice;
    return rc;
  case OPT_CHECK_REPLICAS: cfg->check_replicas = true; return DPT_OK;
  case OPT_TIMEOUT: return dpt_parse_double("--timeout", v, 0, true, 1e6, &cfg->timeout_s, err);
  case OPT_METRICS: cfg->metrics_path = v; return DPT_OK;
  case OPT_METRICS_EVERY:
    return dpt_parse_int("--metrics-every", v, 1, 1000000000, &cfg->metrics_every, err);
  case OPT_TRACE: cfg->trace_path = v; return DPT_OK;
  case OPT_TRACE_STEPS: return dpt_parse_int("--trace-steps", v, 1, 10000, &cfg->trace_steps, err);
  case OPT_CHECKPOINT: cfg->checkpoint_path = v; return DPT_OK;
  case OPT_CHECKPOINT_EVERY:
    rc = dpt_parse_int("--checkpoint-every", v, 1, 1000000000, &choice, err);
    cfg->checkpoint_every = choice;
    return rc;
  case OPT_RESUME: cfg->resume_path = v; return DPT_OK;
  case OPT_ON_NAN:
    rc = dpt_parse_choice("--on-nan", v, on_nan_names, &choice, err);
    cfg->on_nan = (dpt_on_nan)choice;
    return rc;
  case OPT_MAX_SKIPS:
    return dpt_parse_int("--max-skips", v, 1, 1000000000, &cfg->max_skips, err);
  default: return dpt_err_set(err, DPT_EINTERNAL, "cli: option %d has no handler", opt);
  }
}

static bool has_option(const struct option *options, const char *name)
{
  for (; options && options->name; options++)
    if (strcmp(options->name, name) == 0) return true;
  return false;
}

/* extra's options, then the training options it does not redefine. */
static int merge_options(const dpt_cli_extra *extra, struct option *table, size_t size,
                         dpt_err *err)
{
  size_t n = 0;
  const struct option *own = extra ? extra->options : NULL;
  for (const struct option *o = own; o && o->name && n + 1 < size; o++) table[n++] = *o;
  for (const struct option *o = long_options; o->name && n + 1 < size; o++)
    if (!has_option(own, o->name)) table[n++] = *o;
  table[n] = (struct option){NULL, 0, NULL, 0};
  if (n + 1 == size) return dpt_err_set(err, DPT_EINTERNAL, "cli: too many options");
  return DPT_OK;
}

int dpt_cli_parse_with(int argc, char **argv, const dpt_cli_extra *extra, dpt_config *cfg,
                       dpt_cli_action *action, dpt_err *err)
{
  struct option table[64];
  dpt_config_defaults(cfg);
  *action = DPT_CLI_TRAIN;
  int rc = merge_options(extra, table, sizeof table / sizeof table[0], err);
  if (rc) return rc;
  opterr = 0; /* our own messages, in our format */
  optind = 1;
  int opt;
  while ((opt = getopt_long(argc, argv, ":", table, NULL)) != -1) {
    const char *arg = argv[optind - 1];
    if (opt == '?')
      return dpt_err_set(err, DPT_EINPUT, "unknown option '%s' (see --help)", arg);
    if (opt == ':') return dpt_err_set(err, DPT_EINPUT, "%s: needs a value", arg);
    if (opt == OPT_HELP) *action = DPT_CLI_HELP;
    else if (opt == OPT_VERSION) *action = DPT_CLI_VERSION;
    else if (opt >= DPT_CLI_EXTRA_ID) rc = extra->apply(extra->ctx, opt, optarg, cfg, err);
    else rc = apply_option(opt, optarg, cfg, err);
    if (rc) return rc;
  }
  if (optind < argc)
    return dpt_err_set(err, DPT_EINPUT, "unexpected argument '%s' (see --help)", argv[optind]);
  return DPT_OK;
}

const char *dpt_cli_ps_option_given(const dpt_config *cfg)
{
  return cfg->ps_shards > 0 ? "--ps-shards" : cfg->ps_threads > 0 ? "--ps-threads" : NULL;
}

int dpt_cli_parse(int argc, char **argv, dpt_config *cfg, dpt_cli_action *action, dpt_err *err)
{
  int rc = dpt_cli_parse_with(argc, argv, NULL, cfg, action, err);
  if (rc) return rc;
  const char *ps_option = dpt_cli_ps_option_given(cfg);
  if (cfg->strategy != DPT_STRATEGY_PS && ps_option)
    return dpt_err_set(err, DPT_EINPUT, "%s: only meaningful with --strategy ps", ps_option);
  if (cfg->checkpoint_every > 0 && !cfg->checkpoint_path)
    return dpt_err_set(err, DPT_EINPUT, "--checkpoint-every: needs --checkpoint FILE");
  return DPT_OK;
}
