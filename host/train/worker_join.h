/* The worker threads of a run: started, and joined with a last resort. A worker stuck inside a
 * device call (a kernel that never finishes, a CUDA call that waits for it) cannot be woken, so
 * once the run has failed, a worker that has not returned within --timeout + DPT_STUCK_GRACE_S
 * seconds makes the observer's on_stuck end the process (dpt/trainer.h). */
#ifndef DPT_HOST_TRAIN_WORKER_JOIN_H
#define DPT_HOST_TRAIN_WORKER_JOIN_H

#include <pthread.h>
#include <stdatomic.h>

#include "host/train/run.h"

typedef struct dpt_worker_thread {
  pthread_t thread;
  dpt_run *run;
  int w;
  atomic_bool returned; /* set by the thread as its last act: joining it will not block */
} dpt_worker_thread;

/* Starts workers 0..run->workers-1 on threads[]; returns how many started (a failure to start one
 * is the run's error). */
int dpt_worker_threads_start(dpt_run *run, dpt_worker_thread *threads);

/* Joins the `started` threads. */
void dpt_worker_threads_join(dpt_run *run, dpt_worker_thread *threads, int started);

#endif
