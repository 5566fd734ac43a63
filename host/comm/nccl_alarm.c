/* An NCCL group's abort carried to the other MPI processes (host/comm/nccl_alarm.h). */
#include "host/comm/nccl_alarm.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
  ALARM_TAG = 1,
  /* Small enough that MPI sends it eagerly: a send completes even if the peer has stopped
   * listening (it finished, or it is failing too). */
  ALARM_WHY = 960
};

typedef struct alarm_msg {
  int code;
  int from; /* the process that failed */
  char why[ALARM_WHY];
} alarm_msg;

struct dpt_nccl_alarm {
  dpt_comm_nccl *group;
  dpt_mpi_chan *chan;
  pthread_t listener;
  atomic_bool wake;    /* ends the listener's receive: raised or stopping */
  atomic_bool raised;  /* this process's group aborted first: mine is to be sent */
  alarm_msg mine;      /* written before raised is set */
  pthread_mutex_t mu;  /* orders raise against the listener's reading of mine */
};

/* dpt_comm_nccl_on_abort: called once, from the thread whose abort came first. */
static void raise_alarm(void *ctx, int code, const char *why)
{
  dpt_nccl_alarm *a = ctx;
  pthread_mutex_lock(&a->mu);
  a->mine.code = code;
  snprintf(a->mine.why, sizeof a->mine.why, "%s", why);
  atomic_store(&a->raised, true);
  atomic_store(&a->wake, true);
  pthread_mutex_unlock(&a->mu);
}

/* To every other process; one that cannot be told is ending anyway (its MPI_Abort or ours). */
static void send_alarm(dpt_nccl_alarm *a)
{
  pthread_mutex_lock(&a->mu);
  alarm_msg m = a->mine;
  pthread_mutex_unlock(&a->mu);
  m.from = dpt_mpi_chan_rank(a->chan);
  for (int p = 0; p < dpt_mpi_chan_size(a->chan); p++) {
    dpt_err ignored = {0};
    if (p != m.from) (void)dpt_mpi_chan_send(a->chan, &m, sizeof m, p, ALARM_TAG, &ignored);
  }
}

static void *listen_for_alarms(void *p)
{
  dpt_nccl_alarm *a = p;
  alarm_msg theirs;
  dpt_err err = {0};
  int rc = dpt_mpi_chan_recv(a->chan, &theirs, sizeof theirs, DPT_MPI_CHAN_ANY, ALARM_TAG,
                             &a->wake, &err);
  if (!rc) {
    char why[ALARM_WHY + 32];
    theirs.why[sizeof theirs.why - 1] = '\0';
    snprintf(why, sizeof why, "process %d: %s", theirs.from, theirs.why);
    dpt_comm_nccl_abort_told(a->group, theirs.code, why);
  } else if (atomic_load(&a->raised)) {
    send_alarm(a);
  }
  return NULL;
}

int dpt_nccl_alarm_start(dpt_comm_nccl *g, dpt_mpi_chan *chan, dpt_nccl_alarm **out,
                         dpt_err *err)
{
  *out = NULL;
  dpt_nccl_alarm *a = calloc(1, sizeof *a);
  if (!a) {
    dpt_mpi_chan_close(chan);
    return dpt_err_set(err, DPT_ENOMEM, "comm nccl: out of memory");
  }
  a->group = g;
  a->chan = chan;
  atomic_init(&a->wake, false);
  atomic_init(&a->raised, false);
  pthread_mutex_init(&a->mu, NULL);
  int why = pthread_create(&a->listener, NULL, listen_for_alarms, a);
  if (why != 0) {
    pthread_mutex_destroy(&a->mu);
    free(a);
    dpt_mpi_chan_close(chan);
    return dpt_err_set(err, DPT_ENOMEM, "comm nccl: cannot start the alarm thread: %s",
                       strerror(why));
  }
  dpt_comm_nccl_on_abort(g, raise_alarm, a);
  *out = a;
  return DPT_OK;
}

void dpt_nccl_alarm_stop(dpt_nccl_alarm *a)
{
  if (!a) return;
  dpt_comm_nccl_on_abort(a->group, NULL, NULL); /* an alarm raised before still goes */
  atomic_store(&a->wake, true);
  pthread_join(a->listener, NULL);
  dpt_mpi_chan_close(a->chan);
  pthread_mutex_destroy(&a->mu);
  free(a);
}
