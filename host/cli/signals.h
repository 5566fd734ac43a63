/* SIGINT and SIGTERM for the command line: the first one asks the run to stop at the next step
 * boundary (the trainer polls dpt_signals_stop_requested through its observer), save a checkpoint
 * when one is configured, and exit with 128 + the signal's number, as shells report a process
 * killed by it (130 for SIGINT, 143 for SIGTERM). A second one exits at once with that status,
 * without a checkpoint (a save in progress leaves the previous checkpoint whole). */
#ifndef DPT_HOST_CLI_SIGNALS_H
#define DPT_HOST_CLI_SIGNALS_H

#include <stdbool.h>

#include "dpt/status.h"

/* Installs the handlers (once, from main, before the run starts). */
int dpt_signals_install(dpt_err *err);

/* Once the run is over (its checkpoint saved or not needed), a signal has nothing left to stop:
 * restores the default action, so that one ends the process quietly instead of claiming that a
 * checkpoint was skipped. Under an MPI launcher that matters: when the first process of a stopped
 * job exits, Open MPI's mpirun sends SIGTERM to the others, still finishing. */
void dpt_signals_release(void);

/* The first signal received, 0 while none. */
int dpt_signals_received(void);

/* For dpt_observer.should_stop: true once a signal was received. ctx is unused. */
bool dpt_signals_stop_requested(void *ctx);

#endif
