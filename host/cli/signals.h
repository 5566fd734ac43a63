/* SIGINT and SIGTERM for the command line: the first one asks the run to stop (the trainer polls
 * dpt_signals_stop_requested through its observer: between the files and reads of the data
 * loading, at every step boundary, between the chunks of an evaluation), save a checkpoint when
 * one is configured, and exit with 128 + the signal's number, as shells report a process killed
 * by it (130 for SIGINT, 143 for SIGTERM). The handler acknowledges it at once on standard error,
 * whatever the run is doing (a save included), so nobody signals again out of doubt.
 * A signal within GRACE_S of the first is the same request (GNU timeout sends SIGTERM to the
 * process and then to its process group: two at once); a later one exits at once, without a
 * checkpoint (a save in progress leaves the previous checkpoint whole).
 * SIGXFSZ is ignored: a write past `ulimit -f` then fails with EFBIG and is reported as any failed
 * write, instead of killing the process without a word. */
#ifndef DPT_HOST_CLI_SIGNALS_H
#define DPT_HOST_CLI_SIGNALS_H

#include <stdbool.h>

#include "dpt/status.h"

#define DPT_SIGNALS_GRACE_S 1

/* Installs the handlers (once, from main, before MPI starts and the run begins). acknowledge:
 * whether this process prints the acknowledgement (over MPI only rank 0 speaks); then: what the
 * stop leads to, ending the acknowledgement ("saving the checkpoint ..."). */
int dpt_signals_install(bool acknowledge, const char *then, dpt_err *err);

/* Once the run is over (its checkpoint saved or not needed), a signal has nothing left to stop:
 * restores the default action, so that one ends the process quietly instead of claiming that a
 * checkpoint was skipped. Under an MPI launcher that matters: when the first process of a stopped
 * job exits, Open MPI's mpirun sends SIGTERM to the others, still finishing. */
void dpt_signals_release(void);

/* The first signal received, 0 while none. */
int dpt_signals_received(void);

/* For dpt_observer.should_stop: true once a signal was received. ctx is unused. */
bool dpt_signals_stop_requested(void *ctx);

/* The console says whether standard error holds an unfinished line (a progress bar): the
 * acknowledgement then starts with a newline, on a line of its own. */
void dpt_signals_partial_line(bool open);

#endif
