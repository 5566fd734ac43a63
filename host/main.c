/* dptrain: options -> run -> report. The only place that prints errors and chooses exit codes. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dpt/device.h"
#include "dpt/mem_room.h"
#include "dpt/trainer.h"
#include "host/cli/cli.h"
#include "host/compare/compare.h"
#include "host/cli/console.h"
#include "host/compare/out_dir.h"
#include "host/cli/signals.h"
#include "host/train/config_agree.h"
#include "host/train/run_files.h"
#include "host/train/train_record.h"
#include "mpi/mpi_env.h"

/* The exit status of a run stopped on request: 128 + the signal this process received, as shells
 * report a command a signal ended; over MPI a process may have stopped on another's signal. */
static int interrupted_status(void)
{
  int sig = dpt_signals_received();
  return sig ? 128 + sig : dpt_exit_status(DPT_EINTERRUPTED);
}

static int fail(const dpt_err *err)
{
  if (err->code == DPT_EINTERRUPTED) { /* not an error: a user asked for it */
    int sig = dpt_signals_received();
    fprintf(stderr, "dptrain: interrupted by %s: %s\n",
            sig == SIGTERM ? "SIGTERM" : sig ? "SIGINT" : "a signal to another MPI process",
            err->msg);
    return interrupted_status();
  }
  fprintf(stderr, "dptrain: error: %s\n", err->msg);
  return dpt_exit_status(err->code);
}

/* fail() for a training run, which may span MPI processes (docs/mpi.md): there the message names
 * this process, and the job ends here (MPI_Abort) with the status one process would exit with,
 * so that no process waits for this one. */
static int fail_run(const dpt_mpi_env *env, const dpt_err *err)
{
  dpt_err named = {0};
  dpt_err_set(&named, err->code, "rank %d: %s", env->rank, err->msg);
  int status = fail(env->size > 1 ? &named : err);
  dpt_mpi_env_abort(env, status);
  return status;
}

/* The job of the one run this process makes, for end_stuck. */
static const dpt_mpi_env *run_env;

/* dpt_observer.on_stuck: a worker thread is stuck inside a device call and cannot be joined, so
 * the process ends here without it (under MPI with the whole job), as fail_run says. */
static void end_stuck(void *ctx, const dpt_err *err)
{
  (void)ctx;
  int status = fail_run(run_env, err);
  fflush(NULL);
  _exit(status);
}

/* An end every process reached alike, knowing the others did (a stop after the same step, with
 * the checkpoint saved; a run stopped as diverged after the same step; settings that differ,
 * which every process compared): rank 0 alone says why, and each process ends MPI normally with
 * `status` instead of aborting the job. */
static int end_together(dpt_mpi_env *env, const dpt_err *err, int status)
{
  if (env->rank == 0) status = fail(err);
  dpt_mpi_env_finalize(env);
  return status;
}

/* Over MPI processes only rank 0 prints progress and writes files; the others train quietly. */
static void quiet_rank(dpt_config *cfg)
{
  cfg->quiet = true;
  cfg->report_path = cfg->metrics_path = cfg->trace_path = NULL;
}

static void print_summary(FILE *out, const dpt_result *r)
{
  char procs[32] = "";
  if (r->procs > 1) snprintf(procs, sizeof procs, " in %d processes", r->procs);
  fprintf(out, "done: test_acc %.4f  final_loss %.4f  %.0f samples/s (%d %s worker%s%s, %s)  "
               "params %zu  hash %016llx  wall %.1fs\n",
          r->test_accuracy, r->final_train_loss, r->train_samples_per_sec, r->workers, r->device,
          r->workers == 1 ? "" : "s", procs, r->strategy, r->params,
          (unsigned long long)r->params_hash, r->wall_s);
}

/* --help or --version: prints it and returns true; false for a run. */
static bool printed_info(dpt_cli_action action, void (*print_help)(FILE *out))
{
  if (action == DPT_CLI_HELP) print_help(stdout);
  if (action == DPT_CLI_VERSION) dpt_cli_print_version(stdout);
  return action != DPT_CLI_TRAIN;
}

/* dptrain compare ...: argv[0] is "compare". */
static int compare_main(int argc, char **argv)
{
  dpt_compare_options opts;
  dpt_cli_action action;
  dpt_err err = {0};
  /* Its runs are child processes, which would take a launcher's variables for their own. */
  int launched_rank, launched_size;
  if (dpt_mpi_launched(&launched_rank, &launched_size)) {
    dpt_err_set(&err, DPT_EINPUT, "dptrain compare: start it without an MPI launcher (docs/mpi.md)");
    return fail(&err);
  }
  if (dpt_compare_parse(argc, argv, &opts, &action, &err)) return fail(&err);
  if (printed_info(action, dpt_compare_print_help)) return 0;
  char dir[4096];
  bool created;
  if (dpt_out_dir_prepare(opts.out_dir, dir, sizeof dir, &created, &err)) return fail(&err);
  if (dpt_signals_install(true, "the comparison ends there", &err)) return fail(&err);
  if (dpt_compare_run(&opts, dir, stdout, dpt_signals_stop_requested, &err)) {
    if (created) rmdir(dir); /* only if nothing was written into it */
    return fail(&err);
  }
  return 0;
}

static int dptrain_main(int argc, char **argv)
{
  if (argc > 1 && strcmp(argv[1], "compare") == 0) return compare_main(argc - 1, argv + 1);
  dpt_config cfg;
  dpt_cli_action action;
  dpt_err err = {0};
  /* Under an MPI launcher every process parses the same options: only the first one speaks, and
   * none starts MPI for a mistake or for --help. */
  int launched_rank, launched_size;
  bool speaks = !dpt_mpi_launched(&launched_rank, &launched_size) || launched_rank == 0;
  if (dpt_cli_parse(argc, argv, &cfg, &action, &err))
    return speaks ? fail(&err) : dpt_exit_status(err.code);
  if (!speaks && action != DPT_CLI_TRAIN) return 0;
  if (printed_info(action, dpt_cli_print_help)) return 0;
  /* Before MPI starts, which takes a while: a signal from then on stops the run instead of
   * killing it without a word. SIGINT/SIGTERM stop every worker of every process after the same
   * step: a request reaches the other processes as a vote in the gradient exchange
   * (host/train/step_guard.h), or before training where they agree on the run
   * (host/train/run_procs.h). */
  const char *saves = !cfg.checkpoint_path ? "no --checkpoint: nothing is saved"
                      : cfg.staleness > 0 ? "stale training saves at epochs' ends only: the last "
                                            "one stays (a second signal exits at once)"
                                          : "saving the checkpoint first (a second signal exits "
                                            "at once, without it)";
  if (dpt_signals_install(speaks, saves, &err))
    return fail(&err);
  dpt_mpi_env mpi;
  if (dpt_mpi_env_init(&argc, &argv, &mpi, &err)) return fail_run(&mpi, &err);
  /* Processes of a node that see the same first GPU share its GPUs (dpt_config.local_rank). */
  char first_gpu[DPT_MPI_NODE_KEY] = "";
  if (cfg.device != DPT_DEVICE_SELECT_CPU) dpt_cuda_first_device_id(first_gpu, sizeof first_gpu);
  if (dpt_mpi_env_share_node(&mpi, first_gpu, &err)) return fail_run(&mpi, &err);
  cfg.procs = mpi.size;
  cfg.proc_rank = mpi.rank;
  cfg.local_procs = mpi.local_size;
  cfg.local_rank = mpi.local_rank;
  if (mpi.rank > 0) quiet_rank(&cfg);
  /* First of all, before any message whose size or count depends on a setting. */
  bool everyone_refuses;
  if (dpt_config_agree(&cfg, &everyone_refuses, &err))
    return everyone_refuses ? end_together(&mpi, &err, dpt_exit_status(err.code))
                            : fail_run(&mpi, &err);
  /* Before any data is loaded. Over MPI only rank 0 writes files: quiet_rank cleared the others'
   * outputs, and rank 0 alone writes --checkpoint (host/train/checkpoint_run.c). */
  if (mpi.rank == 0 && dpt_run_files_check(&cfg, &err)) return fail_run(&mpi, &err);
  /* With --report - or --metrics -, standard output holds that file alone. */
  FILE *said = dpt_run_files_take_stdout(&cfg) ? stderr : stdout;

  dpt_console console;
  dpt_console_init(&console, said, stderr, cfg.quiet);
  dpt_observer obs = dpt_console_observer(&console);
  obs.should_stop = dpt_signals_stop_requested;
  run_env = &mpi;
  obs.on_stuck = end_stuck;
  dpt_result result;
  int rc = dpt_train_recorded(&cfg, &obs, &result, &err);
  dpt_signals_release();
  dpt_console_end_line(&console); /* a run stopped mid-epoch leaves its bar drawn */
  if (rc && err.code == DPT_EINTERRUPTED) return end_together(&mpi, &err, interrupted_status());
  if (rc && err.code == DPT_EDIVERGED)
    return end_together(&mpi, &err, dpt_exit_status(err.code));
  if (rc) return fail_run(&mpi, &err);
  if (mpi.rank == 0) print_summary(said, &result); /* also with --quiet: the run's one line */
  dpt_mpi_env_finalize(&mpi);
  return 0;
}

/* OpenBLAS starts its thread pool with the library, before main, and each pool thread maps its
 * 128 MiB work buffer (kernels/device_cpu.c) when the scheduler first runs it: in 4 of 6 runs
 * under ulimit -v 285000 on the 2-core development machine, after the run had weighed its memory
 * (host/train/run_memory.c). Under ulimit -v or -d the weighing must see the address space as
 * the run will, so dptrain starts again without a pool (OPENBLAS_NUM_THREADS=1); the BLAS threads
 * the run then asks for are counted before they start. */
static void restart_without_blas_pool(char **argv)
{
  if (dpt_cpu_blas_threads() <= 1 || setenv("OPENBLAS_NUM_THREADS", "1", 1) != 0) return;
  execv("/proc/self/exe", argv); /* returns only on failure: the run goes on as it is */
}

/* OpenBLAS's exit handler joins its threads, and a pool thread whose work buffer could not be
 * mapped retries for ever: under ulimit -v or -d the process ends without exit handlers, its
 * output flushed, whatever the reason it ends for. */
int main(int argc, char **argv)
{
  if (dpt_mem_limited()) restart_without_blas_pool(argv);
  int status = dptrain_main(argc, argv);
  if (dpt_mem_limited()) {
    fflush(NULL);
    _exit(status);
  }
  return status;
}
