/* Test hooks, read from the environment once when a run starts and kept in the run's state (tests
 * set them; users never need them):
 *   DPT_FAULT="worker=W,step=S,kind=K": worker W (0-based, over every MPI process: process p's
 *     local worker w is p x workers + w), at global step S (1-based, counted from
 *     the start of training; with --staleness inf, its S-th exchange), just before its
 *     gradient exchange:
 *       stall  sleeps past --timeout (until the run stops, at most 3 x timeout + 1 s), so the
 *              other workers' waits time out and name it;
 *       fail   fails as a broken device would;
 *       nan    puts a NaN into its gradient (for --on-nan);
 *       diverge  adds 1 to the first parameter of its replica right after the exchange, so
 *              that the replica departs from the others' (for --check-replicas);
 *       hang   never returns, as a thread stuck inside a device call: the others' waits time
 *              out, and the run's last resort (dpt_observer.on_stuck) must end the process.
 *   DPT_TEST_SLOW_SAVE=SECONDS: every checkpoint save sleeps that long between writing the
 *     temporary file and renaming it, so a test can kill the process mid-save.
 *   DPT_TEST_SLOW_LOAD=SECONDS: every stop check of the data loading (before each of its reads)
 *     waits that long, polling the stop request, so a test can signal a run mid-load.
 * A malformed value is bad input (DPT_EINPUT), never silently ignored. */
#ifndef DPT_HOST_TRAIN_FAULT_H
#define DPT_HOST_TRAIN_FAULT_H

#include "dpt/status.h"

typedef enum {
  DPT_FAULT_NONE = 0,
  DPT_FAULT_STALL,
  DPT_FAULT_FAIL,
  DPT_FAULT_NAN,
  DPT_FAULT_DIVERGE,
  DPT_FAULT_HANG
} dpt_fault_kind;

typedef struct dpt_fault {
  dpt_fault_kind kind;
  int worker;
  long step;
  double slow_save_s; /* 0: no delay */
  double slow_load_s; /* 0: no delay */
} dpt_fault;

/* Parses a DPT_FAULT value ("worker=1,step=3,kind=stall") into out's kind, worker and step. */
int dpt_fault_parse(const char *spec, dpt_fault *out, dpt_err *err);

/* Reads DPT_FAULT, DPT_TEST_SLOW_SAVE and DPT_TEST_SLOW_LOAD; unset variables leave no fault
 * and no delay. */
int dpt_fault_from_env(dpt_fault *out, dpt_err *err);

#endif
